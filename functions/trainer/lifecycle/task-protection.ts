/**
 * ECS task scale-in protection through the agent endpoint, so scaling to zero never kills a task mid-job.
 * Outside ECS (no ECS_AGENT_URI) it does nothing.
 */
/** Scale-in protection of a new task before it has a job: a few SQS metric periods plus the alarm's evaluation. */
export const STARTUP_PROTECTION_MINUTES = 5;

export async function setTaskProtection(enabled: boolean, expiresInMinutes = 60): Promise<void> {
  const agent = process.env.ECS_AGENT_URI;
  if (!agent) return;
  const res = await fetch(`${agent}/task-protection/v1/state`, {
    method: 'PUT',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(enabled ? { ProtectionEnabled: true, ExpiresInMinutes: expiresInMinutes } : { ProtectionEnabled: false }),
  });
  if (!res.ok) throw new Error(`ECS task protection request failed: HTTP ${res.status} ${await res.text()}`);
}
