// Quantization: schemes, granularities, packing, size accounting (DESIGN.md section 3, 4).
