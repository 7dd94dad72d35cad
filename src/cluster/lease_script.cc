// lease_script.cc -- the lease script's text and its arguments.
#include "relay/cluster/lease_script.h"

#include <charconv>

namespace relay::cluster {
namespace {

// ARGV: 1 messages, 2 window ms, 3 lease ms, 4 want, 5 node, 6 count of returns, then per
// return: slot, lease id, age ms (-1: unused). Numbers stay exact: scores are milliseconds
// (< 2^53) and Redis prints them with 17 digits.
constexpr std::string_view script = R"lua(
local slots, leases = KEYS[1], KEYS[2]
local n, w, d, want = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local node, count = ARGV[5], tonumber(ARGV[6])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
-- Runs command `head` with the arguments in `rest`, 1,000 at a time (Lua's unpack is bounded).
local function batched(head, rest)
  for i = 1, #rest, 1000 do
    local args = {}
    for j = 1, #head do args[#args + 1] = head[j] end
    for j = i, math.min(i + 999, #rest) do args[#args + 1] = rest[j] end
    redis.call(unpack(args))
  end
end
local meta = redis.call('HMGET', leases, 'n', 'w', 'next')
if tonumber(meta[1]) ~= n or tonumber(meta[2]) ~= w then
  local busy = {}
  if meta[1] then
    local old = redis.call('ZRANGEBYSCORE', slots, '(' .. now, '+inf', 'WITHSCORES')
    for i = 2, #old, 2 do busy[#busy + 1] = tonumber(old[i]) - tonumber(meta[2]) end
    table.sort(busy, function(a, b) return a > b end)
  end
  redis.call('DEL', slots, leases)
  -- Only busy slots are stored; ids from ZCARD to n - 1 are free and stored when first granted,
  -- so a large n costs nothing until it is used (building 100,000 took Redis over a second).
  local members = {}
  for i = 0, math.min(#busy, n) - 1 do
    members[#members + 1] = busy[i + 1] + w
    members[#members + 1] = i
  end
  batched({'ZADD', slots}, members)
  redis.call('HSET', leases, 'n', n, 'w', w, 'next', meta[3] or 0)
end
if count > 0 then
  local fields = {}
  for r = 0, count - 1 do fields[#fields + 1] = 's' .. ARGV[7 + 3 * r] end
  local records = {}
  for i = 1, #fields, 1000 do
    local part = redis.call('HMGET', leases, unpack(fields, i, math.min(i + 999, #fields)))
    for j = 1, #part do records[#records + 1] = part[j] end
  end
  local members, gone = {}, {}
  for r = 0, count - 1 do
    local record = records[r + 1]
    if record then
      local id, owner, before, e = string.match(record, '^(%S+) (%S+) (%S+) (%S+)$')
      if id == ARGV[8 + 3 * r] and owner == node then
        local age = tonumber(ARGV[9 + 3 * r])
        local score = tonumber(before)
        if age >= 0 then score = math.min(tonumber(e), now - age) + w end
        members[#members + 1] = score
        members[#members + 1] = ARGV[7 + 3 * r]
        gone[#gone + 1] = fields[r + 1]
      end
    end
  end
  batched({'ZADD', slots}, members)
  batched({'HDEL', leases}, gone)
end
local made = redis.call('ZCARD', slots)
local free = redis.call('ZCOUNT', slots, '-inf', now) + n - made
local grant = math.min(want, free)
if grant > 1 and grant * 2 > free then grant = math.max(1, math.floor(free / 2)) end
local id = now .. '.' .. redis.call('HINCRBY', leases, 'next', 1)
local e = now + d
local out = {id, free - grant, 0, 0}
if grant > 0 then
  local picked = redis.call('ZRANGEBYSCORE', slots, '-inf', now, 'WITHSCORES', 'LIMIT', 0, grant)
  for slot = made, made + grant - #picked / 2 - 1 do
    picked[#picked + 1] = tostring(slot)
    picked[#picked + 1] = '0'
  end
  local members, records = {}, {}
  for j = 1, #picked, 2 do
    local slot = picked[j]
    records[#records + 1] = 's' .. slot
    records[#records + 1] = id .. ' ' .. node .. ' ' .. picked[j + 1] .. ' ' .. e
    members[#members + 1] = e + w
    members[#members + 1] = slot
    out[#out + 1] = tonumber(slot)
  end
  batched({'HSET', leases}, records)
  batched({'ZADD', slots}, members)
end
local first = redis.call('ZRANGE', slots, 0, 0, 'WITHSCORES')
if first[2] and tonumber(first[2]) > now and redis.call('ZCARD', slots) >= n then
  out[3] = tonumber(first[2]) - now
end
out[4] = redis.call('HLEN', leases) - 3
redis.call('PEXPIRE', slots, w + d + 1000)
redis.call('PEXPIRE', leases, w + d + 1000)
return out
)lua";

}  // namespace

std::string_view lease_script() {
    return script;
}

ScriptCall lease_script_call(const LeaseRequest& request, std::string_view node_id,
                             std::int64_t lease_ms, std::int64_t now_ms) {
    ScriptCall call;
    std::string tag = "relay:rate:{" + request.username + "}:";
    call.keys = {tag + "slots", tag + "leases"};
    call.arguments = {std::to_string(request.messages),
                      std::to_string(std::int64_t{request.window_s} * 1000),
                      std::to_string(lease_ms),
                      std::to_string(request.want),
                      std::string(node_id),
                      std::to_string(request.returns.size())};
    for (const ReturnedUnit& unit : request.returns) {
        call.arguments.push_back(std::to_string(unit.slot));
        call.arguments.push_back(unit.lease_id);
        std::int64_t age =
            unit.used_at_ms < 0 ? -1 : std::max<std::int64_t>(0, now_ms - unit.used_at_ms);
        call.arguments.push_back(std::to_string(age));
    }
    return call;
}

Result<LeaseGrant> parse_lease_reply(const RedisReply& reply) {
    if (reply.type == RedisReply::Type::error) {
        return Error{"lease script: " + reply.text};
    }
    if (reply.type != RedisReply::Type::array || reply.elements.size() < 4 ||
        reply.elements[0].type != RedisReply::Type::text) {
        return Error{"lease script: unexpected reply"};
    }
    LeaseGrant grant;
    grant.lease_id = reply.elements[0].text;
    for (std::size_t index = 1; index < reply.elements.size(); ++index) {
        if (reply.elements[index].type != RedisReply::Type::integer ||
            reply.elements[index].integer < 0) {
            return Error{"lease script: unexpected reply"};
        }
    }
    grant.free_after = static_cast<std::uint32_t>(reply.elements[1].integer);
    grant.retry_after_ms = reply.elements[2].integer;
    grant.leased = static_cast<std::uint32_t>(reply.elements[3].integer);
    for (std::size_t index = 4; index < reply.elements.size(); ++index) {
        grant.slots.push_back(static_cast<std::uint32_t>(reply.elements[index].integer));
    }
    return grant;
}

}  // namespace relay::cluster
