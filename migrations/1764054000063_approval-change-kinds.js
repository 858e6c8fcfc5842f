/**
 * The change kinds of approvals (migration 1764054000020): `approval_requested` and `approval_decided`. Apart
 * from that one because it must follow 1764054000060, which sets the list of kinds anew.
 */

const KINDS = ['session_created', 'session_updated', 'session_deleted', 'event', 'keys_changed'];
const kindCheck = (kinds) => `
    alter table changes drop constraint changes_kind_check;
    alter table changes add constraint changes_kind_check check (kind in (${kinds.map((kind) => `'${kind}'`).join(', ')}));
`;

/** @param {import('node-pg-migrate').MigrationBuilder} pgm */
exports.up = (pgm) => {
  pgm.sql(kindCheck([...KINDS, 'approval_requested', 'approval_decided']));
  // An instance without WebSocket clients still reads decisions (it may hold the hook waiting for one).
  pgm.sql("create index changes_approvals_decided on changes (tx, position) where kind = 'approval_decided'");
};

/** @param {import('node-pg-migrate').MigrationBuilder} pgm */
exports.down = (pgm) => {
  pgm.sql(`
    drop index changes_approvals_decided;
    -- Their numbers stay taken by their batches: a reader finds nothing at them, as for a filtered read.
    delete from changes where kind in ('approval_requested', 'approval_decided');
  `);
  pgm.sql(kindCheck(KINDS));
};
