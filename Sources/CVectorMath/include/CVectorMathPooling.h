// Non-conv layers on one plane at a time (Pooling.c): max pools, nearest upsampling, and the
// detection head's transpose to rows with its box decoding. References: the tensor forms in
// FeatureOps.swift (maxPool, upsampleNearest, gridRows), compared in FastKernelTests.
#ifndef CVECTORMATH_POOLING_H
#define CVECTORMATH_POOLING_H

/// 2x2 stride-2 max pool of one plane (rows `width` floats apart) into an oh x ow plane:
/// y[i][j] = max of x[2i..2i+1][2j..2j+1].
void cvm_maxpool2x2(const float *x, long width, long oh, long ow, float *y);

/// Floats of scratch cvm_maxpool_same needs for an h x w plane and radius r.
long cvm_maxpool_same_scratch(long h, long w, long r);
/// Stride-1 "same" max pool of one h x w plane: kernel 2r+1, padding r counted as -infinity
/// (PyTorch's MaxPool2d(2r+1, 1, r)). Separable, and each direction by doubling (maxima of 2,
/// then 4, 8... values, then two overlapping windows), so k = 13 takes 4 passes, not 12.
void cvm_maxpool_same(const float *x, long h, long w, long r, float *y, float *scratch);

/// Nearest upsampling of one h x w plane by an integer factor into (h*scale) x (w*scale).
void cvm_upsample_nearest(const float *x, long h, long w, long scale, float *y);

/// One anchor's channels of a detection level to rows: x holds `no` planes of h x w values
/// (`plane` floats apart, sigmoid already applied); for grid rows [y0, y1) writes row
/// (gy * w + gx) of `no` floats at rows + (gy * w + gx) * no, the first four decoded as the
/// official head does: ((v*2 - 0.5) + gx) * stride, ((v*2 - 0.5) + gy) * stride,
/// (v*2)*(v*2) * anchor_w, (v*2)*(v*2) * anchor_h; the rest copied.
void cvm_grid_rows(const float *x, long plane, long w, long no, long y0, long y1, float anchor_w,
                   float anchor_h, float stride, float *rows);

#endif
