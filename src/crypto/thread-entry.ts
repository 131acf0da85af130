/**
 * Where a worker thread's code is: the compiled module beside the caller (dist/), or, when running from the
 * TypeScript sources, a small script that registers tsx first (a worker does not inherit the parent's module hooks).
 */
export function threadEntry(callerUrl: string, name: string): { file: URL | string; eval: boolean } {
  const self = new URL(callerUrl);
  if (self.pathname.endsWith('.ts')) {
    const api = import.meta.resolve('tsx/esm/api');
    const code = `import(${JSON.stringify(api)}).then((m) => { m.register(); return import(${JSON.stringify(new URL(`./${name}.ts`, self).href)}); });`;
    return { file: code, eval: true };
  }
  return { file: new URL(`./${name}.js`, self), eval: false };
}
