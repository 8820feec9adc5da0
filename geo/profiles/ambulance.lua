-- Ambulance profile for PSC 119 (OSRM profile API 4), used by `python manage.py build_road_network`.
--
-- Exact pruned ranking (geo/osrm_engine.py) skips a unit when the straight line to the incident at the network's
-- top speed already takes longer than the best ETA found. That is only sound because this profile promises:
--   1. no road is faster than its entry in SPEED_KMH (maxspeed, surface and the like only lower a speed);
--   2. segment durations are rounded up to the 0.1 s OSRM stores, never down, and turn costs are never negative.
-- build_road_network reads SPEED_KMH below (one `class = km/h,` per line) to record the network's top speed:
-- keep that layout when tuning the numbers.

api_version = 4

-- Speeds with lights and siren in Indonesian city traffic, km/h.
local SPEED_KMH = {
  motorway = 80,
  motorway_link = 50,
  trunk = 60,
  trunk_link = 40,
  primary = 50,
  primary_link = 35,
  secondary = 45,
  secondary_link = 30,
  tertiary = 35,
  tertiary_link = 25,
  unclassified = 30,
  residential = 25,
  road = 25,
  living_street = 10,
  service = 15,
}

-- Access values that close a way or a node to an ambulance. Private, destination and the like stay open:
-- a crew may drive into a compound or a gang to reach the patient.
local CLOSED = { no = true, agricultural = true, forestry = true, disused = true, military = true }
-- Which access tag decides, most specific first.
local ACCESS_KEYS = { 'ambulance', 'emergency', 'motorcar', 'motor_vehicle', 'vehicle', 'access' }
-- Barriers an ambulance passes (gates are opened for it; portals of a kampung too).
local PASSABLE_BARRIERS = {
  no = true, entrance = true, gate = true, lift_gate = true, swing_gate = true, sliding_gate = true,
  toll_booth = true, border_control = true, cattle_grid = true, sally_port = true, height_restrictor = true,
  arch = true, kerb = true,
}
local SLOW_SURFACE = { unpaved = 0.6, gravel = 0.7, fine_gravel = 0.7, compacted = 0.8, dirt = 0.5, earth = 0.5,
                       ground = 0.5, mud = 0.4, sand = 0.4, grass = 0.4 }

local TURN_PENALTY_S = 4        -- the most a sharp turn costs, seconds
local U_TURN_PENALTY_S = 15
local TRAFFIC_SIGNAL_S = 3      -- crossing a red light carefully still costs time

function setup()
  local top = 0
  for _, kmh in pairs(SPEED_KMH) do
    if kmh > top then top = kmh end
  end
  return {
    properties = {
      weight_name = 'duration',  -- the table answers the fastest route, the quantity we rank by
      max_speed_for_map_matching = top / 3.6,
      u_turn_penalty = U_TURN_PENALTY_S,
      continue_straight_at_waypoint = false,
      use_turn_restrictions = true,
      process_call_tagless_node = false,
    },
    -- Turn restrictions (relations type=restriction) that bind an ambulance: the general ones and these.
    restrictions = { 'motorcar', 'motor_vehicle', 'vehicle' },
    speeds = SPEED_KMH,
    top_speed = top,
  }
end

local function access_of(object)
  for _, key in ipairs(ACCESS_KEYS) do
    local value = object:get_value_by_key(key)
    if value and value ~= '' then
      return value
    end
  end
  return nil
end

local function parse_maxspeed(value)
  if not value then return nil end
  local number = tonumber(value:match('^%s*(%d+%.?%d*)'))
  if not number or number <= 0 then return nil end
  if value:match('mph') then number = number * 1.609 end
  return number
end

function process_node(profile, node, result)
  local access = access_of(node)
  local barrier = node:get_value_by_key('barrier')
  if access and CLOSED[access] then
    result.barrier = true
  elseif barrier and barrier ~= '' and not PASSABLE_BARRIERS[barrier] and access ~= 'yes' then
    result.barrier = true
  end
  local highway = node:get_value_by_key('highway')
  if highway == 'traffic_signals' then
    result.traffic_lights = true
  end
end

function process_way(profile, way, result)
  local highway = way:get_value_by_key('highway')
  if not highway then return end
  local speed = profile.speeds[highway]
  if not speed then return end  -- footways, paths, steps, tracks, construction: not for an ambulance
  if way:get_value_by_key('area') == 'yes' then return end
  local access = access_of(way)
  if access and CLOSED[access] then return end

  local surface = way:get_value_by_key('surface')
  if surface and SLOW_SURFACE[surface] then
    speed = speed * SLOW_SURFACE[surface]
  end
  local forward, backward = speed, speed
  local maxspeed = parse_maxspeed(way:get_value_by_key('maxspeed'))
  local maxspeed_forward = parse_maxspeed(way:get_value_by_key('maxspeed:forward')) or maxspeed
  local maxspeed_backward = parse_maxspeed(way:get_value_by_key('maxspeed:backward')) or maxspeed
  -- A limit only ever lowers the class speed (promise 1 above).
  if maxspeed_forward and maxspeed_forward < forward then forward = maxspeed_forward end
  if maxspeed_backward and maxspeed_backward < backward then backward = maxspeed_backward end

  result.forward_mode = mode.driving
  result.backward_mode = mode.driving
  result.forward_speed = forward
  result.backward_speed = backward

  local oneway = way:get_value_by_key('oneway')
  local junction = way:get_value_by_key('junction')
  local exempt = way:get_value_by_key('oneway:emergency') == 'no' or way:get_value_by_key('oneway:ambulance') == 'no'
  if not exempt then
    if oneway == '-1' then
      result.forward_mode = mode.inaccessible
    elseif oneway == 'yes' or oneway == '1' or oneway == 'true'
        or (oneway ~= 'no' and (junction == 'roundabout' or junction == 'circular'
                                or highway == 'motorway' or highway == 'motorway_link')) then
      result.backward_mode = mode.inaccessible
    end
  end
  if junction == 'roundabout' then
    result.roundabout = true
  end

  local name = way:get_value_by_key('name')
  if name then result.name = name end
  local ref = way:get_value_by_key('ref')
  if ref then result.ref = ref end
end

function process_turn(profile, turn)
  -- A sigmoid over the turn angle, as OSRM's car profile does: straight on is free, a sharp turn costs the most.
  if turn.number_of_roads > 2 or turn.is_u_turn then
    local angle = math.abs(turn.angle)
    turn.duration = turn.duration + TURN_PENALTY_S / (1 + math.exp(-(13 * angle / 180 - 6.5)))
  end
  if turn.is_u_turn then
    turn.duration = turn.duration + U_TURN_PENALTY_S
  end
  if turn.has_traffic_light then
    turn.duration = turn.duration + TRAFFIC_SIGNAL_S
  end
  if turn.duration < 0 then turn.duration = 0 end
  turn.weight = turn.duration
end

function process_segment(profile, segment)
  -- OSRM keeps whole tenths of a second per segment; rounding up here keeps each one at or above
  -- length / speed (promise 2 above).
  segment.duration = math.ceil(segment.duration * 10 - 1e-9) / 10
  segment.weight = math.ceil(segment.weight * 10 - 1e-9) / 10
end

return {
  setup = setup,
  process_way = process_way,
  process_node = process_node,
  process_turn = process_turn,
  process_segment = process_segment,
}
