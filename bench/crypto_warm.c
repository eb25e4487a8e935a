/* LD_PRELOAD shim for the "process+sshd" benchmark rows: libcrypto loaded
 * and initialised before main, as in the sshd process that runs PAM.
 *
 * sshd links libcrypto and has used it before any PAM module is loaded:
 * it loads OpenSSL's configuration at start and reads its host keys
 * through EVP (PEM decoding, key checks), which builds libcrypto's name
 * map and loads the default provider.  In pamtester that one-time work
 * falls on the first module that calls EVP (3.6 M instructions for our
 * module's first digest fetch, measured with callgrind), a cost no
 * login under sshd pays.  This does the same first use, nothing else:
 * no algorithm the module uses is fetched here except SHA-256, which
 * sshd's own key exchange and host-key signatures use. */
#include <openssl/crypto.h>
#include <openssl/evp.h>

__attribute__((constructor))
static void crypto_warm(void)
{
	EVP_MD *md;

	OPENSSL_init_crypto(OPENSSL_INIT_LOAD_CONFIG, NULL);
	md = EVP_MD_fetch(NULL, "SHA256", NULL);
	EVP_MD_free(md);
}
