import type { PermissionInput } from '../authz/schemas.js';

/**
 * The example role matrix of shared/examples/enterprise-roles.md, as data: agent roles over
 * CRM, ticketing, email, payments and the data warehouse, and the human roles beside them.
 * Field and view limits are constraints carried into decisions; "(approval)" is approval_required.
 */
export interface SeedRole {
  name: string;
  description: string;
  permissions: PermissionInput[];
}

const approval = { approval_required: true } as const;

export const ENTERPRISE_EXAMPLE: readonly SeedRole[] = [
  {
    name: 'Support Agent',
    description: 'Answers tickets; may draft email, sending needs approval.',
    permissions: [
      { tool: 'crm', action: 'read', constraints: { fields: 'limited' } },
      { tool: 'crm', action: 'write', constraints: { records: 'notes' } },
      { tool: 'ticketing', action: 'read' },
      { tool: 'ticketing', action: 'write' },
      { tool: 'email', action: 'draft' },
      { tool: 'email', action: 'send', ...approval },
    ],
  },
  {
    name: 'Sales Ops Agent',
    description: 'Maintains opportunities and contacts; customer email needs approval.',
    permissions: [
      { tool: 'crm', action: 'read' },
      { tool: 'crm', action: 'write', constraints: { records: ['opportunities', 'contacts'] } },
      { tool: 'crm', action: 'export', max_classification: 'internal', constraints: { restricted: true } },
      { tool: 'ticketing', action: 'read' },
      { tool: 'email', action: 'draft' },
      { tool: 'email', action: 'send_internal' },
      { tool: 'email', action: 'send_customer', ...approval },
      { tool: 'warehouse', action: 'read', constraints: { views: 'aggregated' } },
    ],
  },
  {
    name: 'Finance Agent',
    description: 'Reads billing and payments; approving a payment needs a person; never writes bank details.',
    permissions: [
      { tool: 'crm', action: 'read', constraints: { fields: 'billing' } },
      { tool: 'ticketing', action: 'read' },
      { tool: 'email', action: 'draft' },
      { tool: 'email', action: 'send', ...approval },
      { tool: 'payments', action: 'read' },
      { tool: 'payments', action: 'approve', ...approval },
      { tool: 'warehouse', action: 'read' },
      { tool: 'warehouse', action: 'export', constraints: { datasets: 'financial' } },
    ],
  },
  {
    name: 'IT Ops Agent',
    description: 'Works the ticket queue; internal notifications only.',
    permissions: [
      { tool: 'ticketing', action: 'read' },
      { tool: 'ticketing', action: 'write' },
      { tool: 'ticketing', action: 'assign' },
      { tool: 'email', action: 'send_internal', constraints: { kind: 'notification' } },
      { tool: 'warehouse', action: 'read', constraints: { views: 'security_telemetry' } },
    ],
  },
  { name: 'Admin', description: 'Administers the platform.', permissions: [{ tool: 'platform', action: 'admin' }] },
  {
    name: 'Agent Builder',
    description: 'Creates and edits agents; cannot publish.',
    permissions: [
      { tool: 'agents', action: 'create' },
      { tool: 'agents', action: 'write' },
    ],
  },
  { name: 'Publisher', description: 'Publishes agents.', permissions: [{ tool: 'agents', action: 'publish' }] },
  {
    name: 'Approver',
    description: 'Approves gated actions on the named tools.',
    permissions: [
      { tool: 'payments', action: 'approve' },
      { tool: 'email', action: 'approve' },
      { tool: 'crm', action: 'approve' },
    ],
  },
  { name: 'Auditor', description: 'Reads the audit trail.', permissions: [{ tool: 'audit', action: 'read' }] },
  {
    name: 'Viewer',
    description: 'Reads, changes nothing.',
    permissions: ['crm', 'ticketing', 'warehouse'].map((tool) => ({ tool, action: 'read' })),
  },
];
