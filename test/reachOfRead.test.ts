import { reachOfRead } from '../src/store/changes';

// How far a read of the change log reached: where the next read starts, and whether it should start at once.
describe('reachOfRead', () => {
  it('when the read was cut (at its limit or its byte budget), then it reaches its last change and more follow', () => {
    expect(reachOfRead({ after: 10, lastFound: 17, cut: true, batchesCut: false, batchesEnd: 40 })).toEqual({ lastSeq: 17, full: true });
    expect(reachOfRead({ after: 10, upTo: 40, lastFound: 11, cut: true, batchesCut: true, batchesEnd: 40 })).toEqual({ lastSeq: 11, full: true });
  });

  it('when nothing matched a filter in transactions that were all read, then it reaches their end and nothing follows', () => {
    expect(reachOfRead({ after: 10, lastFound: null, cut: false, batchesCut: false, batchesEnd: 25 })).toEqual({ lastSeq: 25, full: false });
  });

  it('when the transactions read were cut, then it reaches the end of those read and more follow, even with no match', () => {
    expect(reachOfRead({ after: 10, lastFound: null, cut: false, batchesCut: true, batchesEnd: 25 })).toEqual({ lastSeq: 25, full: true });
    expect(reachOfRead({ after: 10, lastFound: 20, cut: false, batchesCut: true, batchesEnd: 25 })).toEqual({ lastSeq: 25, full: true });
  });

  it('when reading up to a number, then it never reaches past it, and reaches it when every transaction up to it was read', () => {
    // The last transaction read ends past upTo (a filter read it whole): capped.
    expect(reachOfRead({ after: 10, upTo: 20, lastFound: 18, cut: false, batchesCut: false, batchesEnd: 30 })).toEqual({ lastSeq: 20, full: false });
    // Nothing committed since `after` was found at all: up to upTo is known to be covered.
    expect(reachOfRead({ after: 10, upTo: 20, lastFound: null, cut: false, batchesCut: false, batchesEnd: null })).toEqual({ lastSeq: 20, full: false });
    expect(reachOfRead({ after: 10, upTo: 20, lastFound: null, cut: false, batchesCut: true, batchesEnd: 15 })).toEqual({ lastSeq: 15, full: true });
  });

  it('when nothing was committed after `after` and no upTo was given, then it stays where it was', () => {
    expect(reachOfRead({ after: 10, lastFound: null, cut: false, batchesCut: false, batchesEnd: null })).toEqual({ lastSeq: 10, full: false });
  });
});
