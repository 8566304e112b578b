// The Zapier CLI's entry point (its CommonJS wrapper requires index.js at the app root). The app is written in
// TypeScript under zapier-app/ and compiled to dist/ by `npm run build:app`, which `zapier-platform build`,
// `push` and `validate` run first through the `_zapier-build` script.
module.exports = require('./dist/zapier-app/index.js').default;
