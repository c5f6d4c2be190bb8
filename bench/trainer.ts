import { sharedTensorLength } from "../src/testmodels/training/gradientWorker.ts";
import { packSequences, type PackedBatch, type WeightedSequence } from "../src/testmodels/training/packSequences.ts";
import { splitPackedBatch, startGradientWorkers } from "../src/testmodels/training/parallelGradients.ts";
import { qwen2LossAndGradients, singleThreadLossAndGradients, type SequencesLossAndGradients } from "../src/testmodels/training/qwen2Model.ts";
import { initialToyParameters, TOY_DEMO_RECIPE, toyPromptIds, toyTrainingProblems, trainToySupervisedStage } from "../src/testmodels/training/toyDemoTraining.ts";
import { encodeToyText } from "../src/testmodels/training/toyTokenizer.ts";
import { supervisedBatch, type StepRecord } from "../src/testmodels/training/trainSupervised.ts";

/**
 * Toy trainer throughput (npm run bench:trainer): the first STEPS steps of TOY_DEMO_RECIPE's
 * Toy-Base stage (the same examples, order, schedule and optimizer as `npm run train:demo`), with
 * each step's loss and gradients on one thread and on two (startGradientWorkers), the runs taking
 * turns RUNS times; the best wall time of each counts, since other jobs share the machine. Wall
 * time, not CPU time: two threads spend more CPU to take less time. Where other jobs hold cores,
 * two threads get no more CPU than one, so it also times each half of the first batches alone on
 * this thread: whole / larger half is the speed-up two free cores would allow. And it prints what
 * copying the parameters into the workers' shared memory costs per step.
 */

const STEPS = 30;
const RUNS = 2;
const HALF_TIMED_BATCHES = 5;
const recipe = TOY_DEMO_RECIPE;
const stage = recipe.base;

const firstBatches: (readonly WeightedSequence[])[] = [];
const recordFirstBatches: SequencesLossAndGradients = (parameters, sequences) => {
  if (firstBatches.length < HALF_TIMED_BATCHES) firstBatches.push(sequences);
  return singleThreadLossAndGradients(parameters, sequences);
};

function run(lossAndGradients: SequencesLossAndGradients): { seconds: number; records: StepRecord[] } {
  const started = performance.now();
  const { records } = trainToySupervisedStage(recipe, initialToyParameters(recipe), stage, "Toy-Base", { runSteps: STEPS, lossAndGradients });
  return { seconds: (performance.now() - started) / 1000, records };
}

/** Milliseconds of the whole of firstBatches and of the larger half of each (splitPackedBatch), each on this thread alone. */
function halfMilliseconds(): { whole: number; largerHalf: number } {
  const parameters = initialToyParameters(recipe);
  const time = (batch: PackedBatch) => {
    const started = performance.now();
    qwen2LossAndGradients(parameters, batch);
    return performance.now() - started;
  };
  let whole = 0;
  let largerHalf = 0;
  for (const sequences of firstBatches) {
    const batch = packSequences(sequences);
    whole += time(batch);
    largerHalf += Math.max(...splitPackedBatch(batch)!.map(time));
  }
  return { whole, largerHalf };
}

/** Microseconds to copy every parameter into one shared buffer, as each two-threaded step does. */
function copyMicroseconds(): number {
  const parameters = initialToyParameters(recipe);
  const shared = new Float32Array(new SharedArrayBuffer(sharedTensorLength(recipe.shape) * Float32Array.BYTES_PER_ELEMENT));
  const repeats = 2000;
  const started = performance.now();
  for (let repeat = 0; repeat < repeats; repeat++) {
    let offset = 0;
    for (const values of parameters.tensors.values()) {
      shared.set(values, offset);
      offset += values.length;
    }
  }
  return ((performance.now() - started) * 1000) / repeats;
}

const workers = startGradientWorkers(recipe.shape);
// The worker's start (loading TypeScript) is not part of a step: one small batch first.
const warmUp = toyTrainingProblems(recipe, "toy-own").slice(0, 2).map((problem) => ({ promptIds: toyPromptIds(problem), answerIds: encodeToyText(`${problem.target}<|im_end|>`) }));
workers.lossAndGradients(initialToyParameters(recipe), supervisedBatch(warmUp));
let single = Infinity;
let parallel = Infinity;
let singleRecords: StepRecord[] = [];
let parallelRecords: StepRecord[] = [];
for (let round = 0; round < RUNS; round++) {
  const one = run(recordFirstBatches);
  const two = run(workers.lossAndGradients);
  single = Math.min(single, one.seconds);
  parallel = Math.min(parallel, two.seconds);
  singleRecords = one.records;
  parallelRecords = two.records;
  console.log(`round ${round + 1}: one thread ${(STEPS / one.seconds).toFixed(2)} steps/s, two threads ${(STEPS / two.seconds).toFixed(2)} steps/s`);
}
await workers.close();

const last = STEPS - 1;
const totalParameters = sharedTensorLength(recipe.shape);
console.log(`Toy-Base stage (${JSON.stringify(recipe.shape)}, batch ${stage.batchSize}), ${STEPS} steps, best of ${RUNS}:`);
console.log(`  one thread:  ${(STEPS / single).toFixed(2)} steps/s (${((1000 * single) / STEPS).toFixed(0)} ms/step)`);
console.log(`  two threads: ${(STEPS / parallel).toFixed(2)} steps/s (${((1000 * parallel) / STEPS).toFixed(0)} ms/step)`);
console.log(`  speed-up: ${(single / parallel).toFixed(2)}x`);
const { whole, largerHalf } = halfMilliseconds();
console.log(`  loss and gradients of the first ${HALF_TIMED_BATCHES} batches on one thread: ${whole.toFixed(0)} ms whole, ${largerHalf.toFixed(0)} ms their larger halves: at most ${(whole / largerHalf).toFixed(2)}x on two free cores`);
console.log(`  copying the ${totalParameters} parameters into shared memory: ${copyMicroseconds().toFixed(0)} us/step`);
console.log(`  step ${STEPS} answer loss: one thread ${singleRecords[last]!.loss}, two threads ${parallelRecords[last]!.loss} (round-off apart, not bit for bit)`);
