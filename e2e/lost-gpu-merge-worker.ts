/// <reference types="@webgpu/types" />
import "../workers/mergeWorker.ts";

/**
 * workers/mergeWorker.ts on a GPU that is lost mid-merge, for e2e/merge-api-page.ts: every GPU device
 * this worker gets destroys itself right after the `destroyGpuDeviceAfterSubmits`-th submit of its
 * queue (a field of the start command), once the submitting code has finished its synchronous part,
 * as a device lost between a dispatch and its read-back would be.
 */

/** What the start command carries besides MergeWorkerCommand's fields. */
export interface LostGpuMergeCommand {
  destroyGpuDeviceAfterSubmits: number;
}

const scope = self as unknown as DedicatedWorkerGlobalScope;
let destroyAfterSubmits = Number.POSITIVE_INFINITY;
scope.addEventListener("message", (event: MessageEvent<Partial<LostGpuMergeCommand>>) => {
  if (event.data.destroyGpuDeviceAfterSubmits !== undefined) destroyAfterSubmits = event.data.destroyGpuDeviceAfterSubmits;
});

const requestDevice = GPUAdapter.prototype.requestDevice;
GPUAdapter.prototype.requestDevice = async function (this: GPUAdapter, descriptor?: GPUDeviceDescriptor) {
  const device = await requestDevice.call(this, descriptor);
  const submit = device.queue.submit.bind(device.queue);
  let submits = 0;
  device.queue.submit = (commandBuffers) => {
    submit(commandBuffers);
    if (++submits === destroyAfterSubmits) queueMicrotask(() => device.destroy());
  };
  return device;
};
