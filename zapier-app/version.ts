/**
 * The integration's version as Zapier shows it; test/zapier-app checks it equals package.json's, so a release
 * bumps both. Kept here rather than importing package.json, which would copy it into dist/.
 */
export const APP_VERSION = '1.0.0';
