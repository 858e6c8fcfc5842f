import { parseInteger } from '../src/structs/integers';

describe('parseInteger, the one way text becomes an integer (query strings, environment, notifications)', () => {
  it.each([
    ['42', 42],
    [' 7 ', 7],
    ['-3', -3],
    ['0012', 12],
    ['9007199254740991', 9007199254740991],
  ])('reads %j as %d', (text, value) => {
    expect(parseInteger(text)).toBe(value);
  });

  it.each([[''], [' '], ['1.5'], ['1e3'], ['0x10'], ['12abc'], ['+1'], ['12345678901234567']])('refuses %j', (text) => {
    expect(parseInteger(text)).toBeUndefined();
  });
});
