// Exposes the system CBLAS (OpenBLAS on Linux) to Swift.
#include <cblas.h>
