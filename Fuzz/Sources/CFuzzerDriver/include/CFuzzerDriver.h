#ifndef YOLO_CFUZZERDRIVER_H
#define YOLO_CFUZZERDRIVER_H

#include <stddef.h>
#include <stdint.h>

// libFuzzer's driver, from the runtime that -sanitize=fuzzer links (compiler-rt's
// FuzzerInterface.h). SwiftPM links every executable with `main=<Target>_main`, so libFuzzer's
// own main() is never used: each target defines <Target>_main and calls this instead.
int LLVMFuzzerRunDriver(int *argc, char ***argv,
                        int (*user_callback)(const uint8_t *data, size_t size));

#endif
