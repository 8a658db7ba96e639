#!/bin/sh
# tests/receiver/make_certs.sh DIR: a throwaway test CA and a server
# certificate for 127.0.0.1 and localhost signed by it, for the reference
# receiver's HTTPS listener.  Writes DIR/ca.crt, DIR/ca.key, DIR/server.crt,
# DIR/server.key.  Nothing here is secret or committed: every test run makes
# its own.
set -eu

if [ $# -ne 1 ]; then
	echo "usage: $0 DIR" >&2
	exit 2
fi
dir=$1
mkdir -p "$dir"
umask 077

# EC P-256 keys: quick to generate, and every TLS client accepts them.
openssl req -x509 -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
	-days 3650 -subj "/CN=pgpull test CA" \
	-addext "basicConstraints=critical,CA:TRUE" \
	-addext "keyUsage=critical,keyCertSign,cRLSign" \
	-keyout "$dir/ca.key" -out "$dir/ca.crt" 2>/dev/null

openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
	-subj "/CN=localhost" \
	-keyout "$dir/server.key" -out "$dir/server.csr" 2>/dev/null

cat > "$dir/server.ext" <<'EOF'
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth
subjectAltName = IP:127.0.0.1, DNS:localhost
EOF

openssl x509 -req -in "$dir/server.csr" -CA "$dir/ca.crt" -CAkey "$dir/ca.key" \
	-set_serial "0x$(openssl rand -hex 8)" -days 3650 -extfile "$dir/server.ext" \
	-out "$dir/server.crt" 2>/dev/null

rm -f "$dir/server.csr" "$dir/server.ext"
chmod 644 "$dir/ca.crt" "$dir/server.crt"
openssl verify -CAfile "$dir/ca.crt" "$dir/server.crt" >/dev/null
