// Definitions shared by the kernels' sources (not part of the target's public header).
#ifndef CHARRNN_KERNELS_INTERNAL_H
#define CHARRNN_KERNELS_INTERNAL_H

// CRNN_SINGLE_VERSION builds one variant for the flags given (Tests/c compares them).
#if defined(__x86_64__) && defined(__ELF__) && defined(__clang__) && !defined(CRNN_SINGLE_VERSION)
#define MULTIVERSIONED __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define MULTIVERSIONED
#endif

/// Internal to libcharrnn: none of these symbols is exported.
#define INTERNAL __attribute__((visibility("hidden")))

#endif
