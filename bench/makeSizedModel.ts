// `npm run model:sized`: makes the sized benchmark model (or finds it already made) and says where.
import { ensureSizedModel } from "./sizedModel.js";

const model = ensureSizedModel();
console.log(
  `${model.made ? "Made" : "Reused"} ${model.path}: ${model.bytes.toLocaleString("en-US")} bytes (${(model.bytes / 1e6).toFixed(1)} MB), ` +
    `${model.seconds.toFixed(2)} s, sha256 ${model.sha256}`,
);
