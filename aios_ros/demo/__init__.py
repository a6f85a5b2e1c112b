"""The README's main job: replay the bundled synthetic sample and report what came out."""
