# Defaults for the k2hdkc-antpickax element (see its README.rst).
export K2HDKC_ANTPICKAX=${K2HDKC_ANTPICKAX:-1}
export K2HDKC_ANTPICKAX_REPO_URL=${K2HDKC_ANTPICKAX_REPO_URL:-https://packagecloud.io/antpickax/stable}
export K2HDKC_ANTPICKAX_OS=${K2HDKC_ANTPICKAX_OS:-}
export K2HDKC_ANTPICKAX_DIST=${K2HDKC_ANTPICKAX_DIST:-}
export K2HDKC_ANTPICKAX_PACKAGES=${K2HDKC_ANTPICKAX_PACKAGES:-libfullock k2hash chmpx k2hdkc}
