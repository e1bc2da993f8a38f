// What a resource's status says of one node or device that runs it (status.nodes[], .devices[]).
// A leaf: the plan's statuses (status.ts) and the devices' (devices/status.ts) both speak of it.
export interface TargetStatus {
  name: string;
  ready: boolean;
  message: string;
  detail: Record<string, string>;
}
