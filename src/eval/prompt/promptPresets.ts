/** Where a prompt template takes the problem's question. */
export const QUESTION_PLACEHOLDER = "{question}";

export interface PromptPreset {
  id: "zero-shot-boxed" | "think-step-by-step" | "eight-shot-cot";
  label: string;
  /** The user message, with QUESTION_PLACEHOLDER where the question goes; the studio lets users edit it. */
  template: string;
  /** Worked examples the template holds. */
  fewShot: number;
  /** Text that ends the answer when a model goes on past it (scoreOutput cuts the output there). */
  stopSequences: readonly string[];
}

/**
 * The eight chain-of-thought exemplars of Wei et al. 2022 ("Chain-of-Thought Prompting Elicits
 * Reasoning in Large Language Models", Table 20), as lm-evaluation-harness's gsm8k-cot task uses
 * them: each answer reasons in a few sentences and ends "The answer is N.".
 */
export const GSM8K_COT_EXEMPLARS: readonly { question: string; answer: string }[] = [
  {
    question:
      "There are 15 trees in the grove. Grove workers will plant trees in the grove today. After they are done, there will be 21 trees. How many trees did the grove workers plant today?",
    answer: "There are 15 trees originally. Then there were 21 trees after some more were planted. So there must have been 21 - 15 = 6. The answer is 6.",
  },
  {
    question: "If there are 3 cars in the parking lot and 2 more cars arrive, how many cars are in the parking lot?",
    answer: "There are originally 3 cars. 2 more cars arrive. 3 + 2 = 5. The answer is 5.",
  },
  {
    question: "Leah had 32 chocolates and her sister had 42. If they ate 35, how many pieces do they have left in total?",
    answer: "Originally, Leah had 32 chocolates. Her sister had 42. So in total they had 32 + 42 = 74. After eating 35, they had 74 - 35 = 39. The answer is 39.",
  },
  {
    question: "Jason had 20 lollipops. He gave Denny some lollipops. Now Jason has 12 lollipops. How many lollipops did Jason give to Denny?",
    answer: "Jason started with 20 lollipops. Then he had 12 after giving some to Denny. So he gave Denny 20 - 12 = 8. The answer is 8.",
  },
  {
    question: "Shawn has five toys. For Christmas, he got two toys each from his mom and dad. How many toys does he have now?",
    answer: "Shawn started with 5 toys. If he got 2 toys each from his mom and dad, then that is 4 more toys. 5 + 4 = 9. The answer is 9.",
  },
  {
    question:
      "There were nine computers in the server room. Five more computers were installed each day, from monday to thursday. How many computers are now in the server room?",
    answer: "There were originally 9 computers. For each of 4 days, 5 more computers were added. So 5 * 4 = 20 computers were added. 9 + 20 is 29. The answer is 29.",
  },
  {
    question:
      "Michael had 58 golf balls. On tuesday, he lost 23 golf balls. On wednesday, he lost 2 more. How many golf balls did he have at the end of wednesday?",
    answer: "Michael started with 58 golf balls. After losing 23 on tuesday, he had 58 - 23 = 35. After losing 2 more, he had 35 - 2 = 33 golf balls. The answer is 33.",
  },
  {
    question: "Olivia has $23. She bought five bagels for $3 each. How much money does she have left?",
    answer: "Olivia had 23 dollars. 5 bagels for 3 dollars each will be 5 x 3 = 15 dollars. So she has 23 - 15 dollars left. 23 - 15 is 8. The answer is 8.",
  },
];

/**
 * The studio's prompt presets:
 * - zero-shot chain of thought with a boxed answer (the instruction Qwen2.5's math evaluations use);
 * - "Think step by step" appended to the question: the paper's prompt (arXiv 2509.01363), kept to
 *   that phrase;
 * - 8-shot chain of thought in lm-evaluation-harness's layout: "Question: ...\nAnswer: ..." blocks
 *   separated by a blank line, then the question and "Answer:"; generation stops at the next
 *   "Question:".
 */
export const PROMPT_PRESETS: readonly PromptPreset[] = [
  {
    id: "zero-shot-boxed",
    label: "Zero-shot, reason step by step, \\boxed{} answer",
    template: `${QUESTION_PLACEHOLDER}\nPlease reason step by step, and put your final answer within \\boxed{}.`,
    fewShot: 0,
    stopSequences: [],
  },
  {
    id: "think-step-by-step",
    label: '"Think step by step" (the paper\'s prompt)',
    template: `${QUESTION_PLACEHOLDER}\nThink step by step.`,
    fewShot: 0,
    stopSequences: [],
  },
  {
    id: "eight-shot-cot",
    label: "8-shot chain of thought (lm-evaluation-harness)",
    template: [
      ...GSM8K_COT_EXEMPLARS.map(({ question, answer }) => `Question: ${question}\nAnswer: ${answer}`),
      `Question: ${QUESTION_PLACEHOLDER}\nAnswer:`,
    ].join("\n\n"),
    fewShot: GSM8K_COT_EXEMPLARS.length,
    stopSequences: ["Question:"],
  },
];
