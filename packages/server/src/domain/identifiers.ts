// Communication identifiers: parsing raw ids and identifier models, and the ACS user id format
// `8:acs:<resourceId>_<userId>` (the user part never contains "_", so clients can split it). The models
// follow the 2025-06-30 common model: also Teams extension users (`8:acs:<resourceId>_<tenantId>_<userId>`)
// and phone numbers with isAnonymous and assertedId (`4:<E.164>_<assertedId>`, `4:anonymous`).
import { randomUUID } from "node:crypto";
import type { CommunicationIdentifierModel } from "@natter/wire";
import { ChatError } from "./errors.js";

export type IdentifierKind = "communicationUser" | "phoneNumber" | "microsoftTeamsUser" | "microsoftTeamsApp" | "teamsExtensionUser" | "unknown";

/** `8:acs:<resourceId>_<tenantId>_<userId>` and its gcch/dod forms: exactly three "_"-separated parts, as common splits them. */
const TEAMS_EXTENSION_USER = /^8:(acs|gcch-acs|dod-acs):([^_:]+)_([^_:]+)_([^_:]+)$/;
const CLOUD_OF_ACS_PREFIX: Record<string, "public" | "gcch" | "dod"> = { acs: "public", "gcch-acs": "gcch", "dod-acs": "dod" };
const ACS_PREFIX_OF_CLOUD: Record<string, string> = { public: "acs", gcch: "gcch-acs", dod: "dod-acs" };

const ACS_PREFIXES = ["8:acs:", "8:gcch-acs:", "8:dod-acs:", "8:spool:"];
const MAX_RAW_ID_LENGTH = 512;

const invalid = (id: unknown) =>
  new ChatError("invalidIdentifier", `Identifier format is invalid (${typeof id === "string" ? id.slice(0, 200) : JSON.stringify(id)?.slice(0, 200)}).`);

/** The kind a raw id denotes, following @azure/communication-common's rules. */
export function kindOfRawId(rawId: string): IdentifierKind {
  if (TEAMS_EXTENSION_USER.test(rawId)) return "teamsExtensionUser";
  if (ACS_PREFIXES.some((p) => rawId.startsWith(p))) return "communicationUser";
  if (rawId.startsWith("4:")) return "phoneNumber";
  if (/^8:(orgid|gcch|dod|teamsvisitor|dod-acs|gcch-acs):/.test(rawId)) return "microsoftTeamsUser";
  if (/^28:(orgid|gcch|dod):/.test(rawId)) return "microsoftTeamsApp";
  return "unknown";
}

function isSaneRawId(rawId: unknown): rawId is string {
  // Printable, no whitespace or control characters, bounded length, a "<prefix>:<rest>" shape.
  return typeof rawId === "string" && rawId.length > 2 && rawId.length <= MAX_RAW_ID_LENGTH && /^[^\s\p{C}]+$/u.test(rawId) && /^\d+:.+/.test(rawId);
}

/** Validates an ACS user raw id's shape (not whether the user exists). */
export function isWellFormedAcsUserId(rawId: string): boolean {
  const m = /^8:(acs|gcch-acs|dod-acs|spool):([^_]+)_(.+)$/.exec(rawId);
  return m !== null && m[2].length > 0 && m[3].length > 0;
}

/**
 * Reduces an identifier model from a request to its raw id. Throws 400 for a malformed model: more than one
 * nested object, a nested id that disagrees with rawId, or an ill-formed id.
 */
export function rawIdFromModel(model: unknown): string {
  if (typeof model !== "object" || model === null || Array.isArray(model)) throw invalid(model);
  const m = model as CommunicationIdentifierModel;
  const nested = (["communicationUser", "phoneNumber", "microsoftTeamsUser", "microsoftTeamsApp", "teamsExtensionUser"] as const).filter((k) => m[k] !== undefined);
  if (nested.length > 1) throw new ChatError("invalidIdentifier", "Only one identifier kind may be given.");
  let derived: string | undefined;
  if (m.communicationUser !== undefined) {
    const id = (m.communicationUser as { id?: unknown }).id;
    if (!isSaneRawId(id) || !isWellFormedAcsUserId(id)) throw invalid(id);
    derived = id;
  } else if (m.phoneNumber !== undefined) {
    const value = (m.phoneNumber as { value?: unknown }).value;
    if (typeof value !== "string" || !/^\+?[0-9]{1,20}$|^anonymous$/.test(value)) throw invalid(value);
    const assertedId = (m.phoneNumber as { assertedId?: unknown }).assertedId;
    if (assertedId !== undefined && (typeof assertedId !== "string" || !/^[^\s\p{C}_]{1,128}$/u.test(assertedId))) throw invalid(assertedId);
    derived = assertedId === undefined ? `4:${value}` : `4:${value}_${assertedId}`;
  } else if (m.microsoftTeamsUser !== undefined) {
    const userId = (m.microsoftTeamsUser as { userId?: unknown }).userId;
    if (typeof userId !== "string" || !isSaneRawId(`8:orgid:${userId}`)) throw invalid(userId);
    derived = m.rawId;
  } else if (m.microsoftTeamsApp !== undefined) {
    const appId = (m.microsoftTeamsApp as { appId?: unknown }).appId;
    if (typeof appId !== "string" || !isSaneRawId(`28:orgid:${appId}`)) throw invalid(appId);
    derived = m.rawId;
  } else if (m.teamsExtensionUser !== undefined) {
    const { userId, tenantId, resourceId, cloud } = m.teamsExtensionUser as { userId?: unknown; tenantId?: unknown; resourceId?: unknown; cloud?: unknown };
    const cloudName = cloud === undefined ? "public" : cloud;
    const prefix = typeof cloudName === "string" && Object.hasOwn(ACS_PREFIX_OF_CLOUD, cloudName) ? ACS_PREFIX_OF_CLOUD[cloudName] : undefined;
    derived = `8:${prefix ?? "?"}:${String(resourceId)}_${String(tenantId)}_${String(userId)}`;
    if (prefix === undefined || ![userId, tenantId, resourceId].every((v) => typeof v === "string") || !TEAMS_EXTENSION_USER.test(derived)) {
      throw invalid(derived);
    }
  }
  const rawId = m.rawId ?? derived;
  if (!isSaneRawId(rawId)) throw invalid(rawId);
  if (derived !== undefined && (m.communicationUser !== undefined || m.teamsExtensionUser !== undefined) && derived !== rawId) throw invalid(rawId);
  if (kindOfRawId(rawId) === "communicationUser" && !isWellFormedAcsUserId(rawId)) throw invalid(rawId);
  return rawId;
}

/** A raw id from a URL path (identity API). Throws 400 when it is not an ACS user id. */
export function acsUserIdFromPath(rawId: string): string {
  if (!isSaneRawId(rawId) || !isWellFormedAcsUserId(rawId)) throw invalid(rawId);
  return rawId;
}

/** The identifier model that responses carry for a raw id. */
export function modelFromRawId(rawId: string): CommunicationIdentifierModel {
  switch (kindOfRawId(rawId)) {
    case "communicationUser":
      return { kind: "communicationUser", rawId, communicationUser: { id: rawId } };
    case "phoneNumber": {
      // As common reads it: `4:anonymous`, or `4:<value>` with an optional `_<assertedId>` after the last "_".
      const number = rawId.slice(2);
      if (number === "anonymous") return { kind: "phoneNumber", rawId, phoneNumber: { value: number, isAnonymous: true } };
      const cut = number.lastIndexOf("_");
      if (cut > 0 && cut < number.length - 1) {
        return { kind: "phoneNumber", rawId, phoneNumber: { value: number.slice(0, cut), isAnonymous: false, assertedId: number.slice(cut + 1) } };
      }
      return { kind: "phoneNumber", rawId, phoneNumber: { value: number, isAnonymous: false } };
    }
    case "teamsExtensionUser": {
      const [, prefix, resourceId, tenantId, userId] = TEAMS_EXTENSION_USER.exec(rawId) ?? [];
      return { kind: "teamsExtensionUser", rawId, teamsExtensionUser: { userId, tenantId, resourceId, cloud: CLOUD_OF_ACS_PREFIX[prefix] ?? "public" } };
    }
    case "microsoftTeamsUser": {
      const [, prefix, userId] = /^8:([^:]+):(.*)$/.exec(rawId) ?? [];
      const cloud = prefix === "gcch" ? "gcch" : prefix === "dod" ? "dod" : "public";
      return { kind: "microsoftTeamsUser", rawId, microsoftTeamsUser: { userId: userId ?? rawId, isAnonymous: prefix === "teamsvisitor", cloud } };
    }
    case "microsoftTeamsApp": {
      const [, prefix, appId] = /^28:([^:]+):(.*)$/.exec(rawId) ?? [];
      return { kind: "microsoftTeamsApp", rawId, microsoftTeamsApp: { appId: appId ?? rawId, cloud: prefix === "gcch" ? "gcch" : prefix === "dod" ? "dod" : "public" } };
    }
    default:
      return { kind: "unknown", rawId };
  }
}

/** Mints a new ACS user id of `resourceId`. */
export function newAcsUserId(resourceId: string): string {
  return `8:acs:${resourceId}_${randomUUID()}`;
}

/** True when `rawId` is an ACS user of this resource. */
export function belongsToResource(rawId: string, resourceId: string): boolean {
  return rawId.startsWith(`8:acs:${resourceId}_`) && isWellFormedAcsUserId(rawId);
}
