// Conv epilogues compiled for the CPU the engine runs on: Swift cannot compile one function
// for several instruction sets and pick at load time, clang's target_clones can. The
// arithmetic is FastMath's (YOLOTensor/Activation.swift), operation for operation.
#ifndef CVECTORMATH_H
#define CVECTORMATH_H

/// p[i] = silu(p[i] + bias), SiLU as FastMath.silu.
void cvm_bias_silu(float *p, long count, float bias);
/// p[i] = sigmoid(p[i] + bias), as FastMath.sigmoid.
void cvm_bias_sigmoid(float *p, long count, float bias);

#endif
