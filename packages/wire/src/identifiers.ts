// CommunicationIdentifierModel as it appears in ACS request and response bodies.

export interface CommunicationUserIdentifierModel {
  id: string;
}
export interface PhoneNumberIdentifierModel {
  value: string;
  isAnonymous?: boolean;
  assertedId?: string;
}
export interface MicrosoftTeamsUserIdentifierModel {
  userId: string;
  isAnonymous?: boolean;
  cloud?: "public" | "dod" | "gcch";
}
export interface MicrosoftTeamsAppIdentifierModel {
  appId: string;
  cloud?: "public" | "dod" | "gcch";
}

/** Common 2025-06-30: an ACS user of a Teams Phone extension, rawId `8:acs:<resourceId>_<tenantId>_<userId>`. */
export interface TeamsExtensionUserIdentifierModel {
  userId: string;
  tenantId: string;
  resourceId: string;
  cloud?: "public" | "dod" | "gcch";
}

export type CommunicationIdentifierModelKind =
  | "unknown"
  | "communicationUser"
  | "phoneNumber"
  | "microsoftTeamsUser"
  | "microsoftTeamsApp"
  | "teamsExtensionUser";

/** At most one nested object is present; `rawId` is always present in responses. */
export interface CommunicationIdentifierModel {
  kind?: CommunicationIdentifierModelKind;
  rawId?: string;
  communicationUser?: CommunicationUserIdentifierModel;
  phoneNumber?: PhoneNumberIdentifierModel;
  microsoftTeamsUser?: MicrosoftTeamsUserIdentifierModel;
  microsoftTeamsApp?: MicrosoftTeamsAppIdentifierModel;
  teamsExtensionUser?: TeamsExtensionUserIdentifierModel;
}
