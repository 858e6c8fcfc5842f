import type { Pool, Queryable } from '../db/pool';

/** A session's events over its time: `counts[i]` events fell in the i-th of equal slices of `from`…`to`. */
export interface SessionActivity {
  session_id: string;
  /** The time of its first and of its latest event (their `timestamp`). */
  from: string;
  to: string;
  counts: number[];
}

export interface ActivityStore {
  /** Counted on the few connections of whole lists: as sessionActivity(). */
  ofSessions(sessionIds: readonly string[], buckets: number): Promise<SessionActivity[]>;
}

export function activityStore({ readPool }: { readPool: Pool }): ActivityStore {
  return { ofSessions: (sessionIds, buckets) => sessionActivity(readPool, sessionIds, buckets) };
}

/**
 * How the events of each session were spread over its time, in `buckets` equal slices from its first event
 * to its latest, for sessions that have events (others are left out), in the order asked. One read of the
 * sessions' events, counted in PostgreSQL: the answer is a few numbers per session, whatever their size.
 */
export async function sessionActivity(db: Queryable, sessionIds: readonly string[], buckets: number): Promise<SessionActivity[]> {
  const { rows } = await db.query<{ session_id: string; first_at: Date; last_at: Date; bucket: number; events: number }>(
    `with picked as materialized (
       select session_id, timestamp from events where session_id = any($1::text[])
     ), span as (
       select session_id, min(timestamp) as first_at, max(timestamp) as last_at,
              extract(epoch from max(timestamp) - min(timestamp)) as seconds
       from picked group by session_id
     )
     select s.session_id, s.first_at, s.last_at,
            -- All at one instant: the last slice, where the latest activity shows.
            coalesce(least(floor(extract(epoch from p.timestamp - s.first_at) / nullif(s.seconds, 0) * $2), $2 - 1), $2 - 1)::int as bucket,
            count(*)::int as events
     from picked p join span s using (session_id)
     group by s.session_id, s.first_at, s.last_at, bucket`,
    [sessionIds, buckets],
  );
  const found = new Map<string, SessionActivity>();
  for (const row of rows) {
    let activity = found.get(row.session_id);
    if (!activity) {
      activity = { session_id: row.session_id, from: row.first_at.toISOString(), to: row.last_at.toISOString(), counts: new Array<number>(buckets).fill(0) };
      found.set(row.session_id, activity);
    }
    activity.counts[row.bucket] = row.events;
  }
  return [...new Set(sessionIds)].flatMap((id) => found.get(id) ?? []);
}
