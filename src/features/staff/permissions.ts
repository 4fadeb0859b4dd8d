// Who may do what: the one permission table (DESIGN.md §3, "roles checked per route"). Every staff route
// names one permission through requirePermission (staff-session.hooks.ts); the route matrix walks every
// route with every role, so a route added without a permission, or a role that gains one by accident,
// fails the suite.
export const STAFF_ROLES = ['admin', 'clinician', 'receptionist'] as const;
export type StaffRole = (typeof STAFF_ROLES)[number];

export const ROLE_NAMES: Record<StaffRole, string> = {
  admin: 'Admin',
  clinician: 'Clinician',
  receptionist: 'Receptionist',
};

const EVERYONE = ['admin', 'clinician', 'receptionist'] as const satisfies readonly StaffRole[];

export const PERMISSIONS = {
  /** The inbox, a conversation's page and link activity, patients' replies and the files they attach. */
  readReplies: EVERYONE,
  /** Send a message, questionnaire, document or booking invitation; reply; re-send or revoke a link;
   *  assign, mark urgent or done; find a patient to do so. */
  send: EVERYONE,
  /** Questionnaire answers (scores, flags, free text, answer files): clinical content. Receptionists see
   *  that answers arrived and who to pass them to, not the answers. */
  readAnswers: ['admin', 'clinician'],
  /** The diary: block and unblock times, cancel or move a booking. */
  manageDiary: EVERYONE,
  /** Clinics: clinicians, locations, appointment types and sessions. */
  setUpClinics: ['admin', 'receptionist'],
  manageTemplates: ['admin'],
  manageStaff: ['admin'],
  readAudit: ['admin'],
} as const satisfies Record<string, readonly StaffRole[]>;

export type Permission = keyof typeof PERMISSIONS;

export function roleMay(role: StaffRole, permission: Permission): boolean {
  return (PERMISSIONS[permission] as readonly StaffRole[]).includes(role);
}

export function isStaffRole(value: unknown): value is StaffRole {
  return typeof value === 'string' && (STAFF_ROLES as readonly string[]).includes(value);
}
