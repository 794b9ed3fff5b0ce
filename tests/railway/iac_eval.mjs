// Evaluate a .railway/railway.ts with Railway's own SDK (the `railway` npm package), once per environment, and
// print each environment's services as { name: { build, deploy } }. Run as: node --import tsx iac_eval.mjs FILE ENVS
// where ENVS is a JSON list of { name, pr? } (pr: the pull request context Railway's CLI gives PR environments).
import { pathToFileURL } from "node:url";
import { createRailwayContext, project } from "railway/iac";

const [file, environments] = process.argv.slice(2);
const mod = await import(pathToFileURL(file).href);
const out = {};
for (const env of JSON.parse(environments)) {
  const ctx = createRailwayContext({ environment: env.name, ...(env.pr ? { pr: env.pr } : {}) });
  const definition = await mod.default(ctx, project);
  out[env.name] = Object.fromEntries(
    definition.resources
      .filter((resource) => resource.type === "service")
      .map((resource) => [resource.name, { build: resource.build ?? {}, deploy: resource.deploy ?? {} }]),
  );
}
process.stdout.write(JSON.stringify({ partial: mod.partial ?? null, environments: out }));
