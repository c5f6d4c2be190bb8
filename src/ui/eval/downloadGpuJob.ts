import { downloadZip } from "client-zip";
import type { GpuJobFile } from "../../eval/job/renderGpuJob.ts";
import { downloadBlob } from "../downloadBlob.ts";

/** The folder the job's files sit in inside its zip, and the zip's name. */
export const GPU_JOB_FOLDER = "gpu-job";

/** Offers a GPU job's files (renderGpuJob) as GPU_JOB_FOLDER.zip, run.sh executable. */
export async function downloadGpuJob(files: readonly GpuJobFile[]): Promise<void> {
  const entries = files.map((file) => ({
    name: `${GPU_JOB_FOLDER}/${file.path}`,
    input: file.bytes,
    lastModified: new Date(),
    ...(file.path.endsWith(".sh") ? { mode: 0o775 } : {}),
  }));
  downloadBlob(await downloadZip(entries).blob(), `${GPU_JOB_FOLDER}.zip`);
}
