// The wire form of identifiers (CommunicationIdentifierModel) and the two-way mapping between it and
// CommunicationIdentifier, mirroring @azure/communication-common's serializer (same errors on bad models).
import type {
  CommunicationIdentifierModel,
  CommunicationUserIdentifierModel,
  MicrosoftTeamsAppIdentifierModel,
  MicrosoftTeamsUserIdentifierModel,
  PhoneNumberIdentifierModel,
} from "@natter/wire";
import type { CommunicationCloudEnvironment, CommunicationIdentifier, CommunicationIdentifierKind } from "./identifier-models.js";
import { getIdentifierKind, getIdentifierRawId } from "./identifier-models.js";

/** Wire form of a Teams extension user (newer ACS common models; not part of the chat wire model). */
export interface SerializedTeamsExtensionUserIdentifier {
  /** The Entra ID object id of the user. */
  userId: string;
  /** The tenant id of the user. */
  tenantId: string;
  /** The Communication Services resource id. */
  resourceId: string;
  /** The cloud of the user. */
  cloud?: CommunicationCloudEnvironment;
}

/**
 * The wire form of a communication identifier: `rawId` plus at most one nested model. `kind` is optional
 * (responses carry it, requests usually do not).
 */
export interface SerializedCommunicationIdentifier extends Omit<CommunicationIdentifierModel, "kind"> {
  /** Kind of the identifier, optional. */
  kind?: string;
  /** The Teams extension user, if this identifier is one. */
  teamsExtensionUser?: SerializedTeamsExtensionUserIdentifier;
}

/** Wire model of a communication user. */
export type SerializedCommunicationUserIdentifier = CommunicationUserIdentifierModel;
/** Wire model of a phone number. */
export type SerializedPhoneNumberIdentifier = PhoneNumberIdentifierModel;
/** Wire model of a Microsoft Teams user. */
export type SerializedMicrosoftTeamsUserIdentifier = MicrosoftTeamsUserIdentifierModel;
/** Wire model of a Microsoft Teams app. */
export type SerializedMicrosoftTeamsAppIdentifier = MicrosoftTeamsAppIdentifierModel;

/**
 * Translates a CommunicationIdentifier to its wire form for a request body.
 * @param identifier - The identifier to serialize.
 */
export const serializeCommunicationIdentifier = (
  identifier: CommunicationIdentifier,
): SerializedCommunicationIdentifier => {
  const id = getIdentifierKind(identifier);
  switch (id.kind) {
    case "communicationUser":
      return { rawId: getIdentifierRawId(id), communicationUser: { id: id.communicationUserId } };
    case "phoneNumber":
      return {
        rawId: id.rawId ?? getIdentifierRawId(id),
        phoneNumber: { value: id.phoneNumber, isAnonymous: id.isAnonymous ?? false, assertedId: id.assertedId },
      };
    case "microsoftTeamsUser":
      return {
        rawId: id.rawId ?? getIdentifierRawId(id),
        microsoftTeamsUser: {
          userId: id.microsoftTeamsUserId,
          isAnonymous: id.isAnonymous ?? false,
          cloud: id.cloud ?? "public",
        },
      };
    case "microsoftTeamsApp":
      return {
        rawId: id.rawId ?? getIdentifierRawId(id),
        microsoftTeamsApp: { appId: id.teamsAppId, cloud: id.cloud ?? "public" },
      };
    case "teamsExtensionUser":
      return {
        rawId: id.rawId ?? getIdentifierRawId(id),
        teamsExtensionUser: {
          userId: id.userId,
          tenantId: id.tenantId,
          resourceId: id.resourceId,
          cloud: id.cloud ?? "public",
        },
      };
    case "unknown":
      return { rawId: id.id };
  }
};

const NESTED = ["communicationUser", "microsoftTeamsUser", "microsoftTeamsApp", "phoneNumber", "teamsExtensionUser"] as const;

function required<T>(owner: string, model: object, prop: string): T {
  if (prop in model) return (model as Record<string, T>)[prop];
  throw new Error(`Property ${prop} is required for identifier of type ${owner}.`);
}

/**
 * Translates the wire form of an identifier (as found in a response) to a CommunicationIdentifierKind.
 * Throws when more than one nested model is present or a required property is missing.
 * @param serialized - The wire identifier.
 */
export const deserializeCommunicationIdentifier = (
  serialized: SerializedCommunicationIdentifier,
): CommunicationIdentifierKind => {
  const present = NESTED.filter((key) => serialized[key] !== undefined);
  if (present.length > 1) {
    throw new Error(`Only one of the properties in ${JSON.stringify(present)} should be present.`);
  }
  const kind = serialized.kind ?? (present.length === 1 ? present[0] : "unknown");
  const { communicationUser, phoneNumber, microsoftTeamsUser, microsoftTeamsApp, teamsExtensionUser } = serialized;
  if (kind === "communicationUser" && communicationUser) {
    return { kind, communicationUserId: required("communicationUser", communicationUser, "id") };
  }
  if (kind === "phoneNumber" && phoneNumber) {
    return {
      kind,
      phoneNumber: required("phoneNumber", phoneNumber, "value"),
      rawId: required("phoneNumber", serialized, "rawId"),
      isAnonymous: phoneNumber.isAnonymous ?? false,
      assertedId: phoneNumber.assertedId,
    };
  }
  if (kind === "microsoftTeamsUser" && microsoftTeamsUser) {
    return {
      kind,
      microsoftTeamsUserId: required("microsoftTeamsUser", microsoftTeamsUser, "userId"),
      isAnonymous: required("microsoftTeamsUser", microsoftTeamsUser, "isAnonymous"),
      cloud: required("microsoftTeamsUser", microsoftTeamsUser, "cloud"),
      rawId: required("microsoftTeamsUser", serialized, "rawId"),
    };
  }
  if (kind === "microsoftTeamsApp" && microsoftTeamsApp) {
    return {
      kind,
      teamsAppId: required("microsoftTeamsApp", microsoftTeamsApp, "appId"),
      cloud: required("microsoftTeamsApp", microsoftTeamsApp, "cloud"),
      rawId: required("microsoftTeamsApp", serialized, "rawId"),
    };
  }
  if (kind === "teamsExtensionUser" && teamsExtensionUser) {
    return {
      kind,
      userId: required("teamsExtensionUser", teamsExtensionUser, "userId"),
      tenantId: required("teamsExtensionUser", teamsExtensionUser, "tenantId"),
      resourceId: required("teamsExtensionUser", teamsExtensionUser, "resourceId"),
      cloud: required("teamsExtensionUser", teamsExtensionUser, "cloud"),
      rawId: required("teamsExtensionUser", serialized, "rawId"),
    };
  }
  return { kind: "unknown", id: required("unknown", serialized, "rawId") };
};
