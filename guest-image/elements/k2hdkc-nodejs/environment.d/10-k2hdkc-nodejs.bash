# Defaults for the k2hdkc-nodejs element (see its README.rst).
export K2HDKC_NODE_MAJOR=${K2HDKC_NODE_MAJOR:-20}
export K2HDKC_NODE_SOURCE=${K2HDKC_NODE_SOURCE:-auto}
export K2HDKC_NODESOURCE_URL=${K2HDKC_NODESOURCE_URL:-https://deb.nodesource.com}
