import type { Queryable } from './pool';

/** Resolves once the database answers a trivial query; rejects with its error, or when no answer comes within `ms`. */
export async function ping(db: Queryable, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`the database did not answer within ${ms} ms`)), ms);
  });
  try {
    await Promise.race([db.query('select 1'), timeout]);
  } finally {
    clearTimeout(timer);
  }
}
