"""Data layer: IAM-OnDB strokes, IAM line images, rendering, synthetic Hershey handwriting."""
