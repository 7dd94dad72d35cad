// new_dkim_key.cc -- generating or importing a DKIM key for the store.
#include "relay/policy/new_dkim_key.h"

#include "relay/dkim/key.h"
#include "relay/store/tenant_names.h"

namespace relay::policy {

Result<NewDkimKey> make_dkim_key(const NewDkimKeyRequest& request) {
    auto domain = store::check_domain(request.domain);
    if (!domain) {
        return domain.error();
    }
    auto selector = store::check_dkim_selector(request.selector);
    if (!selector) {
        return selector.error();
    }
    if (request.canonicalization != "relaxed" && request.canonicalization != "simple") {
        return make_error(
            ErrorCode::invalid_argument, Blame::client,
            "DKIM canonicalization \"" + request.canonicalization + "\" is not relaxed or simple");
    }
    NewDkimKey key;
    if (request.private_key_pem.empty()) {
        if (request.algorithm != "rsa-2048" && request.algorithm != "ed25519") {
            return make_error(
                ErrorCode::invalid_argument, Blame::client,
                "DKIM key algorithm \"" + request.algorithm + "\" is not rsa-2048 or ed25519");
        }
        dkim::Algorithm algorithm = request.algorithm == "ed25519" ? dkim::Algorithm::ed25519_sha256
                                                                   : dkim::Algorithm::rsa_sha256;
        auto generated = dkim::generate_key(algorithm, selector.value(), domain.value());
        if (!generated) {
            return generated.error();
        }
        key.record.algorithm = std::string(dkim::algorithm_name(algorithm));
        key.record.private_key_pem = std::move(generated->private_key_pem);
        key.dns_record = std::move(generated->dns_record);
        key.bits = algorithm == dkim::Algorithm::ed25519_sha256 ? 256 : 2048;
    } else {
        auto loaded = dkim::PrivateKey::load(request.private_key_pem);
        if (!loaded) {
            return make_error(ErrorCode::invalid_argument, Blame::client, loaded.error().message);
        }
        auto pem = loaded->to_pem();  // the key alone, whatever else the PEM held
        if (!pem) {
            return pem.error();
        }
        key.record.algorithm = std::string(dkim::algorithm_name(loaded->algorithm()));
        key.record.private_key_pem = std::move(pem.value());
        key.dns_record = dkim::dns_txt_record(selector.value(), domain.value(), loaded.value());
        key.bits = loaded->bits();
    }
    key.record.domain = domain.value();
    key.record.selector = selector.value();
    key.record.canonicalization = request.canonicalization;
    key.record.created_unix_s = request.created_unix_s;
    return key;
}

}  // namespace relay::policy
