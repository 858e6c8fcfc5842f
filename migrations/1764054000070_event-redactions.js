/**
 * How many secrets were masked in each event (issue 22). The service masks every text before it is written
 * (src/privacy/mask.ts), replacing each secret by `[redacted:<kind>]`; this counts those markers as the row is
 * inserted, whichever path wrote it (REST, hooks, the deprecated POST /events), without touching the write
 * path's functions (migration 1764054000011): a column with a default, set by a trigger of its own. A text a
 * client sent with the marker already in it counts too.
 */

/** @param {import('node-pg-migrate').MigrationBuilder} pgm */
exports.up = (pgm) => {
  pgm.sql(`
    -- A constant default: PostgreSQL adds the column without rewriting the table.
    alter table events add column redactions int not null default 0;

    -- How many times the marker occurs in a text; 0 for null, and without copying a text that has none.
    create function asm_count_redactions(t text) returns int
    language sql immutable parallel safe as $$
      select case when t is null or strpos(t, '[redacted:') = 0 then 0
                  else (length(t) - length(replace(t, '[redacted:', ''))) / length('[redacted:') end
    $$;

    create function tg_events__count_redactions() returns trigger
    language plpgsql as $$
    begin
      -- Not session_name: an event without one takes its session's, whose masks are the session's, not its own.
      new.redactions := asm_count_redactions(new.error) + asm_count_redactions(new.reason)
                        + asm_count_redactions(new.tool_input::text) + asm_count_redactions(new.tool_output::text)
                        + asm_count_redactions(new.content::text) + asm_count_redactions(new.hook_input::text);
      return new;
    end
    $$;

    -- Before the row is written; t0 so it comes before any other before-insert trigger of events.
    create trigger t0_events__count_redactions
      before insert on events
      for each row execute function tg_events__count_redactions();
  `);
};

/** @param {import('node-pg-migrate').MigrationBuilder} pgm */
exports.down = (pgm) => {
  pgm.sql(`
    drop trigger t0_events__count_redactions on events;
    drop function tg_events__count_redactions();
    drop function asm_count_redactions(text);
    alter table events drop column redactions;
  `);
};
