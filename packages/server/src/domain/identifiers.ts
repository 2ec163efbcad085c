// Communication identifiers: parsing raw ids and identifier models, and the ACS user id format
// `8:acs:<resourceId>_<userId>` (the user part never contains "_", so clients can split it).
import { randomUUID } from "node:crypto";
import type { CommunicationIdentifierModel } from "@natter/wire";
import { ChatError } from "./errors.js";

export type IdentifierKind = "communicationUser" | "phoneNumber" | "microsoftTeamsUser" | "microsoftTeamsApp" | "unknown";

const ACS_PREFIXES = ["8:acs:", "8:gcch-acs:", "8:dod-acs:", "8:spool:"];
const MAX_RAW_ID_LENGTH = 512;

const invalid = (id: unknown) =>
  new ChatError("invalidIdentifier", `Identifier format is invalid (${typeof id === "string" ? id.slice(0, 200) : JSON.stringify(id)?.slice(0, 200)}).`);

/** The kind a raw id denotes, following @azure/communication-common's rules. */
export function kindOfRawId(rawId: string): IdentifierKind {
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
  const nested = (["communicationUser", "phoneNumber", "microsoftTeamsUser", "microsoftTeamsApp"] as const).filter((k) => m[k] !== undefined);
  if (nested.length > 1) throw new ChatError("invalidIdentifier", "Only one identifier kind may be given.");
  let derived: string | undefined;
  if (m.communicationUser !== undefined) {
    const id = (m.communicationUser as { id?: unknown }).id;
    if (!isSaneRawId(id) || !isWellFormedAcsUserId(id)) throw invalid(id);
    derived = id;
  } else if (m.phoneNumber !== undefined) {
    const value = (m.phoneNumber as { value?: unknown }).value;
    if (typeof value !== "string" || !/^\+?[0-9]{1,20}$|^anonymous$/.test(value)) throw invalid(value);
    derived = `4:${value}`;
  } else if (m.microsoftTeamsUser !== undefined) {
    const userId = (m.microsoftTeamsUser as { userId?: unknown }).userId;
    if (typeof userId !== "string" || !isSaneRawId(`8:orgid:${userId}`)) throw invalid(userId);
    derived = m.rawId;
  } else if (m.microsoftTeamsApp !== undefined) {
    const appId = (m.microsoftTeamsApp as { appId?: unknown }).appId;
    if (typeof appId !== "string" || !isSaneRawId(`28:orgid:${appId}`)) throw invalid(appId);
    derived = m.rawId;
  }
  const rawId = m.rawId ?? derived;
  if (!isSaneRawId(rawId)) throw invalid(rawId);
  if (derived !== undefined && m.communicationUser !== undefined && derived !== rawId) throw invalid(rawId);
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
    case "phoneNumber":
      return { kind: "phoneNumber", rawId, phoneNumber: { value: rawId.slice(2) } };
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
