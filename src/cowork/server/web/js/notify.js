// Browser notifications for approvals that wait while the page is in the background, and the
// waiting count in the tab's title. Permission is asked only from a click (the settings view
// and the banner offer it); without it nothing is shown but the title.

const BASE_TITLE = 'cowork';

/** `granted`, `denied`, `default` (not asked yet) or `unsupported`. */
export function notificationPermission() {
  return typeof Notification === 'undefined' ? 'unsupported' : Notification.permission;
}

/** Ask for permission (call from a click). Resolves with the new permission. */
export async function askNotificationPermission() {
  if (typeof Notification === 'undefined') return 'unsupported';
  try { return await Notification.requestPermission(); } catch { return Notification.permission; }
}

/**
 * Tell the person an approval waits, when the page is hidden and notifications are allowed.
 *
 * @param {{title: string, id: string}} session
 * @param {{tool: string, approval_id: string, reason?: string}} approval the approval.requested event
 * @returns {boolean} true when a notification was shown
 */
export function notifyApproval(session, approval) {
  if (document.visibilityState !== 'hidden' || notificationPermission() !== 'granted') return false;
  try {
    const n = new Notification(`cowork: ${approval.tool} waits for you`, {
      body: `${session.title || session.id}${approval.reason ? ': ' + approval.reason : ''}`.slice(0, 200),
      tag: approval.approval_id,
    });
    n.onclick = () => { window.focus(); n.close(); };
    return true;
  } catch {
    return false;
  }
}

/** "(2) title — cowork" while `waiting` approvals are pending. */
export function setTitle(title, waiting) {
  const base = title ? `${title} — ${BASE_TITLE}` : BASE_TITLE;
  document.title = waiting > 0 ? `(${waiting}) ${base}` : base;
}
