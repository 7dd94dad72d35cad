// incident.h -- short ids that tie what a client is told to what the operator's log says.
//
// A failure on relay's side earns the client a reply from the catalogue, without internals
// (file names, errno text), plus an incident id it can quote: "451 4.3.0 ... (incident
// 7KQ2M9XAT4)". The log line with the detail carries the same id, so support finds it at once.
//
// Thread: any; each thread draws from its own generator (no shared state, no lock).
#pragma once

#include <string>

namespace relay {

// Ten characters of Crockford's base32 (50 random bits): a clash within one log is unlikely
// enough to ignore, and the id reads aloud without ambiguity (no I, L, O or U).
std::string new_incident_id();

}  // namespace relay
