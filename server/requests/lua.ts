// The access-request state machine as Redis Lua: each script checks the current state, makes the
// transition and appends its audit event in ONE atomic step, so concurrent clicks produce one
// decision and the audit log never disagrees with the state.
//
// Request hash fields: id, state, siteId, machineId, requesterId, requiredApprovals,
// windowStart, windowEnd (ISO), windowStartMs, windowEndMs, requestedPolicy (JSON),
// doc (JSON, immutable creation data), decision, grant, revocation (JSON), updatedAt,
// startMode (at|now|on_approval), durationMs, expiresAtMs (pending until then), expiredReason.
// Requests filed before start modes lack the last four: a set window, pending until its end.
import { AUDIT_LUA_PRELUDE } from '../audit/lua.ts';
import { LuaScript } from '../redis.ts';
import { RESTRICTIVE } from './policy.ts';

/**
 * KEYS: 1 request hash, 2 all index, 3 by-user index, 4 by-site index, 5 pending index,
 *       6 audit stream, 7 audit head, 8 audit seq
 * ARGV: 1 request id, 2 fields JSON (flat object of hash fields), 3 created-at ms,
 *       4 expires-at ms (the pending index's score), 5 audit event JSON
 */
export const CREATE_SCRIPT = new LuaScript(`${AUDIT_LUA_PRELUDE}
if redis.call('EXISTS', KEYS[1]) == 1 then return {'conflict', 'duplicate'} end
local fields = cjson.decode(ARGV[2])
local flat = {}
for k, v in pairs(fields) do flat[#flat + 1] = k; flat[#flat + 1] = tostring(v) end
redis.call('HSET', KEYS[1], unpack(flat))
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[1])
redis.call('ZADD', KEYS[3], ARGV[3], ARGV[1])
redis.call('ZADD', KEYS[4], ARGV[3], ARGV[1])
redis.call('ZADD', KEYS[5], ARGV[4], ARGV[1])
audit_append(KEYS[6], KEYS[7], KEYS[8], ARGV[5])
return {'ok', 'pending'}
`);

/**
 * KEYS: 1 request hash, 2 approvals list, 3 pending index, 4 grants index (by grant end),
 *       5 audit stream, 6 audit head, 7 audit seq
 * ARGV: 1 action (approve|deny|cancel|expire|revoke|activate|end), 2 actor JSON ({id,name} or
 *       "null" for the system), 3 now ISO, 4 now ms, 5 arguments JSON
 *       ({comment, windowEnd, windowEndMs, policy, reason, approvalEnd, approvalEndMs})
 * Returns {'ok', newState} or {'conflict', code, currentState} or {'missing'}.
 */
export const TRANSITION_SCRIPT = new LuaScript(`${AUDIT_LUA_PRELUDE}
local restrictive = cjson.decode('${JSON.stringify(RESTRICTIVE)}')
local action = ARGV[1]
local actor = cjson.decode(ARGV[2])
local now_iso = ARGV[3]
local now_ms = tonumber(ARGV[4])
local args = cjson.decode(ARGV[5])

local state = redis.call('HGET', KEYS[1], 'state')
if not state then return {'missing'} end
local id = redis.call('HGET', KEYS[1], 'id')
local site = redis.call('HGET', KEYS[1], 'siteId')

local function opt(v) if v == nil then return cjson.null end return v end

local function audit(name, outcome, reason, details)
  audit_append(KEYS[5], KEYS[6], KEYS[7], cjson.encode({
    at = now_iso, actor = actor, action = name, target = { type = 'request', id = id },
    outcome = outcome, reason = opt(reason), details = details or {}, site = site,
  }))
end

local function set_state(new_state, extra)
  redis.call('HSET', KEYS[1], 'state', new_state, 'updatedAt', now_iso)
  if extra then for k, v in pairs(extra) do redis.call('HSET', KEYS[1], k, v) end end
  if new_state ~= 'pending' then redis.call('ZREM', KEYS[3], id) end
  if new_state ~= 'approved' and new_state ~= 'active' then redis.call('ZREM', KEYS[4], id) end
end

local mode = redis.call('HGET', KEYS[1], 'startMode') or 'at'
local function expires_at()
  local v = redis.call('HGET', KEYS[1], 'expiresAtMs')
  if v then return tonumber(v) end
  return tonumber(redis.call('HGET', KEYS[1], 'windowEndMs'))
end

-- A pending request stays pending until its window ends (a "start when approved" one until its
-- decision deadline); then it is expired, whatever was asked, and the reason says which.
if state == 'pending' and now_ms >= expires_at() then
  local reason = 'window_ended'
  if mode == 'on_approval' then reason = 'not_decided_in_time' end
  set_state('expired', { expiredReason = reason })
  audit('request.expired', 'ok', reason, {})
  state = 'expired'
  if action == 'expire' then return {'ok', 'expired'} end
end

local allowed = {
  approve = { pending = true }, deny = { pending = true }, expire = { pending = true },
  cancel = { pending = true, approved = true },
  revoke = { approved = true, active = true },
  activate = { approved = true, active = true },
  ['end'] = { approved = true, active = true },
}
local refusal = {
  approve = 'already_decided', deny = 'already_decided', expire = 'not_pending',
  cancel = 'not_cancellable', revoke = 'not_revocable', activate = 'not_active', ['end'] = 'not_active',
}
if not allowed[action] then return redis.error_reply('unknown action ' .. action) end
if not allowed[action][state] then
  -- System actions (expire, end) racing each other are not worth an audit line; people's are.
  if actor ~= cjson.null then audit('request.' .. action, 'refused', refusal[action], { state = state }) end
  return {'conflict', refusal[action], state}
end

if action == 'approve' then
  local approvals = redis.call('LRANGE', KEYS[2], 0, -1)
  for _, a in ipairs(approvals) do
    if cjson.decode(a).by.id == actor.id then
      audit('request.approve', 'refused', 'already_approved', {})
      return {'conflict', 'already_approved', state}
    end
  end
  local approval = {
    by = actor, at = now_iso, comment = opt(args.comment),
    windowEnd = opt(args.windowEnd), windowEndMs = opt(args.windowEndMs), policy = opt(args.policy),
  }
  redis.call('RPUSH', KEYS[2], cjson.encode(approval))
  approvals[#approvals + 1] = cjson.encode(approval)
  local required = tonumber(redis.call('HGET', KEYS[1], 'requiredApprovals'))
  if #approvals < required then
    redis.call('HSET', KEYS[1], 'updatedAt', now_iso)
    audit('request.approval_added', 'ok', nil, { count = #approvals, required = required })
    return {'ok', 'pending'}
  end
  -- The grant: the requested window and policy, narrowed by every approver's restrictions. A
  -- late approval starts the grant now; a "start when approved" window starts now and keeps its length.
  local grant_start = redis.call('HGET', KEYS[1], 'windowStart')
  local grant_start_ms = tonumber(redis.call('HGET', KEYS[1], 'windowStartMs'))
  local grant_end = redis.call('HGET', KEYS[1], 'windowEnd')
  local grant_end_ms = tonumber(redis.call('HGET', KEYS[1], 'windowEndMs'))
  local moved = nil
  if mode == 'on_approval' then
    if args.approvalEnd == nil or args.approvalEnd == cjson.null then return redis.error_reply('approvalEnd missing for an on_approval request') end
    grant_start = now_iso
    grant_start_ms = now_ms
    grant_end = args.approvalEnd
    grant_end_ms = args.approvalEndMs
    moved = { windowStart = now_iso, windowStartMs = string.format('%d', now_ms), windowEnd = grant_end, windowEndMs = string.format('%d', grant_end_ms) }
  elseif now_ms > grant_start_ms then
    grant_start = now_iso
    grant_start_ms = now_ms
  end
  local policy = cjson.decode(redis.call('HGET', KEYS[1], 'requestedPolicy'))
  for _, json in ipairs(approvals) do
    local a = cjson.decode(json)
    if a.windowEndMs ~= cjson.null and a.windowEndMs < grant_end_ms then
      grant_end = a.windowEnd
      grant_end_ms = a.windowEndMs
    end
    if a.policy ~= cjson.null then
      -- Per flag the restrictive value wins (RESTRICTIVE, policy.ts): an approval only narrows.
      for k, v in pairs(a.policy) do if restrictive[k] ~= nil and v == restrictive[k] then policy[k] = v end end
    end
  end
  if grant_end_ms <= grant_start_ms then
    -- An earlier approver shortened the window to an end that has passed: nothing left to grant.
    redis.call('RPOP', KEYS[2])
    audit('request.approve', 'refused', 'window_passed', { shortenedEnd = grant_end })
    return {'conflict', 'window_passed', state}
  end
  local grant = { start = grant_start, ['end'] = grant_end, policy = policy }
  local fields = {
    grant = cjson.encode(grant),
    grantEndMs = string.format('%d', grant_end_ms),
    decision = cjson.encode({ by = actor, at = now_iso, comment = opt(args.comment) }),
  }
  if moved then for k, v in pairs(moved) do fields[k] = v end end
  set_state('approved', fields)
  redis.call('ZADD', KEYS[4], grant_end_ms, id)
  audit('request.approved', 'ok', nil, { grantStart = grant.start, grantEnd = grant_end, approvals = #approvals })
  return {'ok', 'approved'}
elseif action == 'deny' then
  set_state('denied', { decision = cjson.encode({ by = actor, at = now_iso, comment = opt(args.comment) }) })
  audit('request.denied', 'ok', nil, {})
  return {'ok', 'denied'}
elseif action == 'cancel' then
  set_state('cancelled')
  -- The requester withdrew (no reason), or an admin's inventory change took it away (reason says which).
  audit('request.cancelled', 'ok', opt(args.reason), { from = state })
  return {'ok', 'cancelled'}
elseif action == 'expire' then
  -- Reached only when the request is not due yet. A request filed before start modes sits in
  -- the pending index by its window's start: give it its real due time, or the sweep spins on it.
  redis.call('ZADD', KEYS[3], expires_at(), id)
  return {'conflict', 'not_due', state}
elseif action == 'revoke' then
  set_state('revoked', { revocation = cjson.encode({ by = actor, at = now_iso, reason = opt(args.reason) }) })
  audit('grant.revoked', 'ok', opt(args.reason), { from = state })
  return {'ok', 'revoked'}
elseif action == 'activate' then
  if state == 'active' then return {'ok', 'active'} end
  set_state('active')
  audit('request.activated', 'ok', nil, {})
  return {'ok', 'active'}
elseif action == 'end' then
  set_state('ended')
  audit('request.ended', 'ok', opt(args.reason), {})
  return {'ok', 'ended'}
end
`);
