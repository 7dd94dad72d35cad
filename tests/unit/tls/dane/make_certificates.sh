#!/usr/bin/env bash
# make_certificates.sh -- writes the fixed certificates of the DANE matching tests (dane_test.cc)
# and, for each, the data of its TLSA records as OpenSSL computes it, so that the tests compare
# relay's selectors and hashes with another implementation's.
#
#   root.der          self-signed CA "DANE Test Root" (EC P-256)
#   intermediate.der  CA signed by the root
#   leaf.der          mx.dane.test (RSA-2048), signed by the intermediate
#   wrong_name.der    other.dane.test, signed by the intermediate
#   stranger.der      mx.dane.test, self-signed with an unrelated key
#   expired.der       mx.dane.test, self-signed, valid only in the year 2000
#   tlsa.txt          "FILE SELECTOR MATCHING HEX" for every file, selector and matching type
#
# Run from anywhere; writes next to itself. Needs openssl(1). The certificates last 50 years.
set -euo pipefail
cd "$(dirname "$0")"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
days=18250

openssl ecparam -name prime256v1 -genkey -noout -out "$work/root.key"
openssl req -x509 -new -key "$work/root.key" -subj "/CN=DANE Test Root" -days $days \
  -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
  -out "$work/root.pem"

openssl ecparam -name prime256v1 -genkey -noout -out "$work/intermediate.key"
openssl req -new -key "$work/intermediate.key" -subj "/CN=DANE Test Intermediate" \
  -out "$work/intermediate.csr"
printf 'basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\n' \
  > "$work/ca.ext"
openssl x509 -req -in "$work/intermediate.csr" -CA "$work/root.pem" -CAkey "$work/root.key" \
  -CAcreateserial -days $days -extfile "$work/ca.ext" -out "$work/intermediate.pem"

leaf() {  # NAME HOST
  openssl genrsa -out "$work/$1.key" 2048 2>/dev/null
  openssl req -new -key "$work/$1.key" -subj "/CN=$2" -out "$work/$1.csr"
  printf 'basicConstraints=CA:FALSE\nsubjectAltName=DNS:%s\nextendedKeyUsage=serverAuth\n' "$2" \
    > "$work/$1.ext"
  openssl x509 -req -in "$work/$1.csr" -CA "$work/intermediate.pem" \
    -CAkey "$work/intermediate.key" -CAcreateserial -days $days -extfile "$work/$1.ext" \
    -out "$work/$1.pem"
}
leaf leaf mx.dane.test
leaf wrong_name other.dane.test

openssl req -x509 -newkey rsa:2048 -nodes -keyout "$work/stranger.key" -subj "/CN=mx.dane.test" \
  -addext "subjectAltName=DNS:mx.dane.test" -days $days -out "$work/stranger.pem" 2>/dev/null

# An expired certificate needs explicit dates, which only `openssl ca` takes.
mkdir -p "$work/ca"
touch "$work/ca/index.txt"
cat > "$work/ca.cnf" <<CNF
[ca]
default_ca = test
[test]
dir = $work/ca
database = $work/ca/index.txt
new_certs_dir = $work/ca
serial = $work/ca/serial
default_md = sha256
policy = anything
[anything]
commonName = supplied
CNF
echo 01 > "$work/ca/serial"
openssl req -new -newkey rsa:2048 -nodes -keyout "$work/expired.key" -subj "/CN=mx.dane.test" \
  -out "$work/expired.csr" 2>/dev/null
openssl ca -batch -config "$work/ca.cnf" -selfsign -keyfile "$work/expired.key" \
  -startdate 20000101000000Z -enddate 20001231000000Z -in "$work/expired.csr" \
  -out "$work/expired.pem" 2>/dev/null

: > tlsa.txt
for name in root intermediate leaf wrong_name stranger expired; do
  openssl x509 -in "$work/$name.pem" -outform DER -out "$name.der"
  openssl x509 -in "$work/$name.pem" -noout -pubkey | openssl pkey -pubin -outform DER \
    -out "$work/$name.spki"
  for selector in 0 1; do
    input="$name.der"
    [ $selector = 1 ] && input="$work/$name.spki"
    echo "$name $selector 0 $(xxd -p "$input" | tr -d '\n')" >> tlsa.txt
    echo "$name $selector 1 $(openssl dgst -sha256 -r "$input" | cut -d' ' -f1)" >> tlsa.txt
    echo "$name $selector 2 $(openssl dgst -sha512 -r "$input" | cut -d' ' -f1)" >> tlsa.txt
  done
done
