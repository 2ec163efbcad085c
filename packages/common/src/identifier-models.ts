// Communication identifiers: the public identifier types, their type guards, the `kind` union and the
// raw-id format (parse and format), mirroring @azure/communication-common 2.4.

/** The cloud a Microsoft Teams user, app or extension user belongs to. */
export type CommunicationCloudEnvironment = "public" | "dod" | "gcch";

/** A user created with an Azure Communication Services (or Natter) resource. */
export interface CommunicationUserIdentifier {
  /** Id of the user as returned by the identity service, e.g. `8:acs:<resourceId>_<userId>`. */
  communicationUserId: string;
}

/** A phone number. */
export interface PhoneNumberIdentifier {
  /** Optional raw id of the phone number. */
  rawId?: string;
  /** The phone number in E.164 format. */
  phoneNumber: string;
  /** Set on a phone number that is already in the same call, to tell connections through the same number apart. */
  assertedId?: string;
  /** True if the phone number is anonymous. */
  isAnonymous?: boolean;
}

/** A Microsoft Teams user. */
export interface MicrosoftTeamsUserIdentifier {
  /** Optional raw id of the Microsoft Teams user. */
  rawId?: string;
  /** Id of the Teams user; for non-anonymous users the Entra ID object id. */
  microsoftTeamsUserId: string;
  /** True if the user is anonymous (e.g. joined a meeting with a link). Missing means not anonymous. */
  isAnonymous?: boolean;
  /** The cloud of the Teams user. Missing means "public". */
  cloud?: CommunicationCloudEnvironment;
}

/** A Microsoft Teams app. */
export interface MicrosoftTeamsAppIdentifier {
  /** Optional raw id of the Microsoft Teams app. */
  rawId?: string;
  /** The Teams app id. */
  teamsAppId: string;
  /** The cloud of the Teams app. Missing means "public". */
  cloud?: CommunicationCloudEnvironment;
}

/** A Microsoft Teams Phone user extending their Teams Phone set-up through a Communication Services resource. */
export interface TeamsExtensionUserIdentifier {
  /** Optional raw id of the Teams extension user. */
  rawId?: string;
  /** The Entra ID object id of the user. */
  userId: string;
  /** The tenant id of the user. */
  tenantId: string;
  /** The Communication Services resource id. */
  resourceId: string;
  /** The cloud of the user. Missing means "public". */
  cloud?: CommunicationCloudEnvironment;
}

/** An identifier that fits none of the other identifier types. */
export interface UnknownIdentifier {
  /** The raw id. */
  id: string;
}

/** Identifies a communication participant. */
export type CommunicationIdentifier =
  | CommunicationUserIdentifier
  | PhoneNumberIdentifier
  | MicrosoftTeamsUserIdentifier
  | MicrosoftTeamsAppIdentifier
  | TeamsExtensionUserIdentifier
  | UnknownIdentifier;

/** {@link CommunicationUserIdentifier} with its `kind`. */
export interface CommunicationUserKind extends CommunicationUserIdentifier {
  /** The identifier kind. */
  kind: "communicationUser";
}
/** {@link PhoneNumberIdentifier} with its `kind`. */
export interface PhoneNumberKind extends PhoneNumberIdentifier {
  /** The identifier kind. */
  kind: "phoneNumber";
}
/** {@link MicrosoftTeamsUserIdentifier} with its `kind`. */
export interface MicrosoftTeamsUserKind extends MicrosoftTeamsUserIdentifier {
  /** The identifier kind. */
  kind: "microsoftTeamsUser";
}
/** {@link MicrosoftTeamsAppIdentifier} with its `kind`. */
export interface MicrosoftTeamsAppKind extends MicrosoftTeamsAppIdentifier {
  /** The identifier kind. */
  kind: "microsoftTeamsApp";
}
/** {@link TeamsExtensionUserIdentifier} with its `kind`. */
export interface TeamsExtensionUserKind extends TeamsExtensionUserIdentifier {
  /** The identifier kind. */
  kind: "teamsExtensionUser";
}
/** {@link UnknownIdentifier} with its `kind`. */
export interface UnknownIdentifierKind extends UnknownIdentifier {
  /** The identifier kind. */
  kind: "unknown";
}

/** A discriminated union of the identifier types, discriminated by `kind`. */
export type CommunicationIdentifierKind =
  | CommunicationUserKind
  | PhoneNumberKind
  | MicrosoftTeamsUserKind
  | MicrosoftTeamsAppKind
  | TeamsExtensionUserKind
  | UnknownIdentifierKind;

type Loose = Record<string, unknown>;
const has = (identifier: CommunicationIdentifier, key: string): boolean =>
  typeof (identifier as unknown as Loose)[key] === "string";

/**
 * Tests whether an identifier is a {@link CommunicationUserIdentifier}.
 * @param identifier - The identifier to test.
 */
export const isCommunicationUserIdentifier = (
  identifier: CommunicationIdentifier,
): identifier is CommunicationUserIdentifier => has(identifier, "communicationUserId");

/**
 * Tests whether an identifier is a {@link PhoneNumberIdentifier}.
 * @param identifier - The identifier to test.
 */
export const isPhoneNumberIdentifier = (identifier: CommunicationIdentifier): identifier is PhoneNumberIdentifier =>
  has(identifier, "phoneNumber");

/**
 * Tests whether an identifier is a {@link MicrosoftTeamsUserIdentifier}.
 * @param identifier - The identifier to test.
 */
export const isMicrosoftTeamsUserIdentifier = (
  identifier: CommunicationIdentifier,
): identifier is MicrosoftTeamsUserIdentifier => has(identifier, "microsoftTeamsUserId");

/**
 * Tests whether an identifier is a {@link MicrosoftTeamsAppIdentifier}.
 * @param identifier - The identifier to test.
 */
export const isMicrosoftTeamsAppIdentifier = (
  identifier: CommunicationIdentifier,
): identifier is MicrosoftTeamsAppIdentifier => has(identifier, "teamsAppId");

/**
 * Tests whether an identifier is a {@link TeamsExtensionUserIdentifier}.
 * @param identifier - The identifier to test.
 */
export const isTeamsExtensionUserIdentifier = (
  identifier: CommunicationIdentifier,
): identifier is TeamsExtensionUserIdentifier =>
  has(identifier, "userId") && has(identifier, "tenantId") && has(identifier, "resourceId");

/**
 * Tests whether an identifier is an {@link UnknownIdentifier}.
 * @param identifier - The identifier to test.
 */
export const isUnknownIdentifier = (identifier: CommunicationIdentifier): identifier is UnknownIdentifier =>
  has(identifier, "id");

/**
 * Returns the identifier with its `kind` added. Identifiers matching no known shape get kind "unknown".
 * @param identifier - The identifier whose kind is inferred.
 */
export const getIdentifierKind = (identifier: CommunicationIdentifier): CommunicationIdentifierKind => {
  if (isCommunicationUserIdentifier(identifier)) return { ...identifier, kind: "communicationUser" };
  if (isPhoneNumberIdentifier(identifier)) return { ...identifier, kind: "phoneNumber" };
  if (isMicrosoftTeamsUserIdentifier(identifier)) return { ...identifier, kind: "microsoftTeamsUser" };
  if (isMicrosoftTeamsAppIdentifier(identifier)) return { ...identifier, kind: "microsoftTeamsApp" };
  if (isTeamsExtensionUserIdentifier(identifier)) return { ...identifier, kind: "teamsExtensionUser" };
  return { ...(identifier as UnknownIdentifier), kind: "unknown" };
};

const TEAMS_USER_PREFIX: Record<CommunicationCloudEnvironment, string> = {
  public: "8:orgid:",
  dod: "8:dod:",
  gcch: "8:gcch:",
};
const TEAMS_APP_PREFIX: Record<CommunicationCloudEnvironment, string> = {
  public: "28:orgid:",
  dod: "28:dod:",
  gcch: "28:gcch:",
};
const ACS_PREFIX: Record<CommunicationCloudEnvironment, string> = {
  public: "8:acs:",
  dod: "8:dod-acs:",
  gcch: "8:gcch-acs:",
};
const cloudOf = (cloud: string | undefined): CommunicationCloudEnvironment =>
  cloud === "dod" || cloud === "gcch" ? cloud : "public";

/**
 * Returns the raw id of an identifier: an explicit `rawId` wins, otherwise it is derived from the other fields.
 * @param identifier - The identifier.
 */
export const getIdentifierRawId = (identifier: CommunicationIdentifier): string => {
  const id = getIdentifierKind(identifier);
  switch (id.kind) {
    case "communicationUser":
      return id.communicationUserId;
    case "phoneNumber":
      return id.rawId || `4:${id.phoneNumber}`;
    case "microsoftTeamsUser":
      if (id.rawId) return id.rawId;
      if (id.isAnonymous) return `8:teamsvisitor:${id.microsoftTeamsUserId}`;
      return TEAMS_USER_PREFIX[cloudOf(id.cloud)] + id.microsoftTeamsUserId;
    case "microsoftTeamsApp":
      return id.rawId || TEAMS_APP_PREFIX[cloudOf(id.cloud)] + id.teamsAppId;
    case "teamsExtensionUser":
      return id.rawId || `${ACS_PREFIX[cloudOf(id.cloud)]}${id.resourceId}_${id.tenantId}_${id.userId}`;
    case "unknown":
      return id.id;
  }
};

function phoneFromRawId(rawId: string): PhoneNumberKind {
  const phoneNumber = rawId.slice(2);
  const isAnonymous = phoneNumber === "anonymous";
  const underscore = isAnonymous ? -1 : phoneNumber.lastIndexOf("_");
  const assertedId =
    underscore >= 0 && underscore < phoneNumber.length - 1 ? phoneNumber.slice(underscore + 1) : undefined;
  return { kind: "phoneNumber", phoneNumber, isAnonymous, assertedId };
}

function acsFromRawId(rawId: string, suffix: string, cloud: CommunicationCloudEnvironment): CommunicationIdentifierKind {
  const parts = suffix.split("_");
  if (parts.length !== 3) return { kind: "communicationUser", communicationUserId: rawId };
  const [resourceId, tenantId, userId] = parts;
  return { kind: "teamsExtensionUser", userId, tenantId, resourceId, cloud };
}

/**
 * Parses a raw id into the identifier it denotes; raw ids of no known format become an {@link UnknownIdentifierKind}.
 * @param rawId - The raw id, e.g. `8:acs:...`, `4:+14255550123`, `8:orgid:...`, `28:orgid:...`.
 */
export const createIdentifierFromRawId = (rawId: string): CommunicationIdentifierKind => {
  if (rawId.startsWith("4:")) return phoneFromRawId(rawId);
  const segments = rawId.split(":");
  if (segments.length !== 3) return { kind: "unknown", id: rawId };
  const prefix = `${segments[0]}:${segments[1]}:`;
  const suffix = segments[2];
  switch (prefix) {
    case "8:teamsvisitor:":
      return { kind: "microsoftTeamsUser", microsoftTeamsUserId: suffix, isAnonymous: true };
    case "8:orgid:":
      return { kind: "microsoftTeamsUser", microsoftTeamsUserId: suffix, isAnonymous: false, cloud: "public" };
    case "8:dod:":
      return { kind: "microsoftTeamsUser", microsoftTeamsUserId: suffix, isAnonymous: false, cloud: "dod" };
    case "8:gcch:":
      return { kind: "microsoftTeamsUser", microsoftTeamsUserId: suffix, isAnonymous: false, cloud: "gcch" };
    case "8:acs:":
      return acsFromRawId(rawId, suffix, "public");
    case "8:dod-acs:":
      return acsFromRawId(rawId, suffix, "dod");
    case "8:gcch-acs:":
      return acsFromRawId(rawId, suffix, "gcch");
    case "8:spool:":
      return { kind: "communicationUser", communicationUserId: rawId };
    case "28:orgid:":
      return { kind: "microsoftTeamsApp", teamsAppId: suffix, cloud: "public" };
    case "28:dod:":
      return { kind: "microsoftTeamsApp", teamsAppId: suffix, cloud: "dod" };
    case "28:gcch:":
      return { kind: "microsoftTeamsApp", teamsAppId: suffix, cloud: "gcch" };
    default:
      return { kind: "unknown", id: rawId };
  }
};
