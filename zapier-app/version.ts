/**
 * The integration's version as Zapier shows it (semver, Zapier's rules: CHANGELOG.md). A release sets it here,
 * in package.json and package-lock.json, and adds its CHANGELOG.md entry; test/zapier-app/definition.test.ts
 * and test/docs/changelog.test.ts check that they agree. Kept here rather than importing package.json, which
 * would copy it into dist/.
 */
export const APP_VERSION = '1.2.0';
