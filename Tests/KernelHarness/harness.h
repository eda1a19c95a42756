// What the kernel harness's files share (harness.c: the FP32 cases and main; harness_int8.c:
// the int8 cases).
#ifndef KERNEL_HARNESS_H
#define KERNEL_HARNESS_H

// One case's line: PASS when error <= bound; counts cases and failures.
void report(const char *level, const char *kernel, const char *shape, double error, double bound);

// Every int8 kernel entry point at every int8 level this CPU runs, and as dispatched, against the
// plain level (exactly), and the plain level against direct forms written in harness_int8.c.
void check_int8_levels(void);

#endif
