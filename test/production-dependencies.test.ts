// A production install (`npm ci --omit=dev`) has only package.json's dependencies. So everything the
// production entry points can load must come from there, and nothing there may be unused (issue 10,
// item 13). Development-only code (the demo data, the NHS login stand-in built on oidc-provider)
// lives in dev/ folders and is reached only by a dynamic import() taken in development and tests: a
// static import of it would load it, and its devDependencies, in production.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { builtinModules } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const pkg = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8')) as {
  dependencies: Record<string, string>;
  devDependencies: Record<string, string>;
};
const ENTRY_POINTS = ['src/server.ts', 'src/cli/admin.ts', 'src/cli/migrate.ts'];
/** Dependencies no import names: the runtime itself, and prom-client, kept for /metrics (issue 15). */
const NOT_IMPORTED = new Set(['node', 'prom-client']);

const isDevelopmentOnly = (file: string) => file.split(path.sep).includes('dev');

interface ModuleUse {
  specifier: string;
  dynamic: boolean;
}

/** What a file loads at run time: type-only imports are erased by Node's type stripping, so skipped. */
function usesOf(file: string): ModuleUse[] {
  const source = ts.createSourceFile(file, readFileSync(file, 'utf8'), ts.ScriptTarget.Latest, true);
  const uses: ModuleUse[] = [];
  const visit = (node: ts.Node) => {
    if (ts.isImportDeclaration(node) && !node.importClause?.isTypeOnly && ts.isStringLiteral(node.moduleSpecifier)) {
      uses.push({ specifier: node.moduleSpecifier.text, dynamic: false });
    } else if (ts.isExportDeclaration(node) && !node.isTypeOnly && node.moduleSpecifier && ts.isStringLiteral(node.moduleSpecifier)) {
      uses.push({ specifier: node.moduleSpecifier.text, dynamic: false });
    } else if (ts.isCallExpression(node) && node.arguments.length > 0 && ts.isStringLiteralLike(node.arguments[0]!)) {
      const callee = node.expression;
      const isDynamicImport = callee.kind === ts.SyntaxKind.ImportKeyword;
      const isRequire = (ts.isIdentifier(callee) && callee.text === 'require') || (ts.isPropertyAccessExpression(callee) && callee.getText(source) === 'require.resolve');
      if (isDynamicImport || isRequire) uses.push({ specifier: node.arguments[0].text, dynamic: isDynamicImport });
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return uses;
}

function packageOf(specifier: string): string | undefined {
  if (specifier.startsWith('node:') || builtinModules.includes(specifier.split('/')[0]!)) return undefined;
  const parts = specifier.split('/');
  return specifier.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0];
}

interface Walk {
  /** Each package reached, with the file that loads it. */
  packages: Map<string, string>;
  files: Set<string>;
  problems: string[];
}

/** Every file and package reachable from the entry points, not following dynamic imports into dev/. */
function walk(entries: string[]): Walk {
  const result: Walk = { packages: new Map(), files: new Set(), problems: [] };
  const queue = entries.map((entry) => path.join(root, entry));
  while (queue.length > 0) {
    const file = queue.pop()!;
    if (result.files.has(file)) continue;
    result.files.add(file);
    for (const use of usesOf(file)) {
      const from = path.relative(root, file);
      if (use.specifier.startsWith('.')) {
        const target = path.resolve(path.dirname(file), use.specifier);
        if (isDevelopmentOnly(path.relative(root, target)) && !isDevelopmentOnly(from)) {
          if (!use.dynamic) result.problems.push(`${from} imports development-only ${path.relative(root, target)} statically`);
          continue;
        }
        if (!target.startsWith(path.join(root, 'src') + path.sep)) result.problems.push(`${from} loads ${use.specifier}, outside src/`);
        else if (target.endsWith('.ts')) queue.push(target);
        continue;
      }
      const name = packageOf(use.specifier);
      if (name && !result.packages.has(name)) result.packages.set(name, from);
    }
  }
  return result;
}

test('production code loads only packages from dependencies, and development-only code only dynamically', () => {
  const { packages, files, problems } = walk(ENTRY_POINTS);
  assert.ok(files.size > 50, `the walk reached ${files.size} files`);
  assert.ok(packages.has('fastify') && packages.has('pg-boss'), 'the walk sees packages');
  for (const [name, from] of packages) {
    if (pkg.devDependencies[name]) problems.push(`${from} loads ${name}, a devDependency: npm ci --omit=dev would not install it`);
    else if (!pkg.dependencies[name]) problems.push(`${from} loads ${name}, which package.json does not list`);
  }
  assert.deepEqual(problems, []);
});

test('every dependency is used by production code (oidc-provider is a devDependency of the stand-in)', () => {
  const { packages } = walk(ENTRY_POINTS);
  const unused = Object.keys(pkg.dependencies).filter((name) => !packages.has(name) && !NOT_IMPORTED.has(name));
  assert.deepEqual(unused, [], 'unused dependencies (remove them, or make them devDependencies)');
  assert.equal(pkg.dependencies['oidc-provider'], undefined);
  assert.ok(pkg.devDependencies['oidc-provider']);
  // The stand-in does use it, so the walk would have seen a static import from production code.
  const standIn = walk(['src/features/nhs-login/dev/stand-in-from-config.ts']);
  assert.ok(standIn.packages.has('oidc-provider'));
});
