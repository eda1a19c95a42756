// OpenBLAS's CBLAS interface (Debian: libopenblas-dev puts it under the multiarch include dir).
#include <cblas.h>
// Thread control is an OpenBLAS extension, not part of CBLAS.
void openblas_set_num_threads(int num_threads);
int openblas_get_num_threads(void);
char *openblas_get_corename(void);
char *openblas_get_config(void);
// LAPACK (OpenBLAS exports it): Cholesky factorisation and inverse, for calibration (GPTQ).
void dpotrf_(const char *uplo, const int *n, double *a, const int *lda, int *info);
void dpotri_(const char *uplo, const int *n, double *a, const int *lda, int *info);
// Solves A X = B for a symmetric positive definite A (Cholesky), for sequential calibration.
void dposv_(const char *uplo, const int *n, const int *nrhs, double *a, const int *lda, double *b, const int *ldb,
            int *info);
