import { defineConfig } from "vite";

// build.rs runs `vite build --outDir $OUT_DIR/console` and embeds what it writes in the owl binary.
export default defineConfig({
  build: {
    target: "es2022",
    // The charts load when first shown: the editor paints without them.
    chunkSizeWarningLimit: 700,
    sourcemap: false,
  },
});
