/**
 * The middle of `xs` sorted; of an even count, the upper of the two middle ones (the runs
 * the benches report are odd in number unless asked otherwise).
 */
export const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;
