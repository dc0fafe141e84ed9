#!/usr/bin/env bash
# Rebuilds the web UI's vendored files (src/cowork/server/web/vendor) from the npm packages that
# web/package-lock.json pins: Preact + hooks + htm bundled into one ES module by esbuild, and the
# published browser builds of markdown-it, DOMPurify and highlight.js copied as they are, each with
# its licence. VENDOR.json records name, version, licence and SHA-256 of every shipped file.
# Only maintainers run this (after changing web/package.json); installing or running cowork never
# needs Node.js. Needs node and npm.
set -euo pipefail
cd "$(dirname "$0")/.."
npm ci --prefix web --no-audit --no-fund --loglevel=error
nm=web/node_modules
out=src/cowork/server/web/vendor
rm -rf "$out" && mkdir -p "$out/licenses"
web/node_modules/.bin/esbuild web/preact-entry.js --bundle --format=esm --minify --legal-comments=none \
  --log-level=warning --outfile="$out/preact.js"
cp "$nm/markdown-it/dist/browser/markdown-it.esm.min.mjs" "$out/markdown-it.js"
cp "$nm/dompurify/dist/purify.es.mjs" "$out/purify.js"
cp "$nm/@highlightjs/cdn-assets/es/highlight.min.js" "$out/highlight.js"
cp "$nm/@highlightjs/cdn-assets/styles/github.min.css" "$out/highlight-light.css"
cp "$nm/@highlightjs/cdn-assets/styles/github-dark.min.css" "$out/highlight-dark.css"
cp "$nm/preact/LICENSE" "$out/licenses/preact.txt"
cp "$nm/htm/LICENSE" "$out/licenses/htm.txt"
cp "$nm/markdown-it/LICENSE" "$out/licenses/markdown-it.txt"
cp "$nm/dompurify/LICENSE" "$out/licenses/dompurify.txt"
cp "$nm/@highlightjs/cdn-assets/LICENSE" "$out/licenses/highlight.js.txt"
node - "$nm" "$out" <<'JS'
const fs = require('fs'), path = require('path'), crypto = require('crypto');
const [nm, out] = process.argv.slice(2);
const pkg = (name) => JSON.parse(fs.readFileSync(path.join(nm, name, 'package.json')));
const files = {
  'preact.js': ['preact', 'htm'], 'markdown-it.js': ['markdown-it'], 'purify.js': ['dompurify'],
  'highlight.js': ['@highlightjs/cdn-assets'], 'highlight-light.css': ['@highlightjs/cdn-assets'],
  'highlight-dark.css': ['@highlightjs/cdn-assets'],
};
const record = Object.entries(files).map(([file, names]) => ({
  file,
  sha256: crypto.createHash('sha256').update(fs.readFileSync(path.join(out, file))).digest('hex'),
  packages: names.map((n) => ({ name: n, version: pkg(n).version, license: pkg(n).license })),
}));
fs.writeFileSync(path.join(out, 'VENDOR.json'), JSON.stringify(record, null, 2) + '\n');
JS
echo "vendored into $out:"; (cd "$out" && for f in *.js *.css; do printf '  %-22s %7d bytes, %6d gzipped\n' "$f" "$(wc -c <"$f")" "$(gzip -9c "$f" | wc -c)"; done)
