import { fileURLToPath } from "node:url";

/** The committed toy models (models/toy/ with toy-demo.json) that writeDemoHub turns into the demo/Toy-* repos. */
export const TOY_MODELS_FOLDER = fileURLToPath(new URL("../models/toy", import.meta.url));
