import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import { ErrorBody } from '../http/common-schemas.js';
import type { RateLimit } from '../http/rate-limit.js';
import type { SamlProtocol } from './saml.js';

const Params = Type.Object({ connection: Type.String({ pattern: '^sso_[0-9a-z]{26}$', description: 'The SAML connection id.' }) });

/**
 * The service provider metadata of a SAML connection, public: the IdP administrator imports it.
 * Served at the SP entity id itself too, where saml-metadata §4.1 has metadata resolve.
 */
export const samlMetadataRoutes: FastifyPluginAsyncTypebox<{ saml: SamlProtocol; rateLimit: RateLimit }> = async (
  app,
  { saml, rateLimit },
) => {
  const schema = {
    tags: ['sso'],
    summary: 'SAML service provider metadata of a connection (entity id, ACS URL)',
    params: Params,
    response: {
      200: {
        description: 'SAML 2.0 metadata (md:EntityDescriptor)',
        content: { 'application/samlmetadata+xml': { schema: Type.String() } },
      },
      400: Type.Ref(ErrorBody),
      404: Type.Ref(ErrorBody),
    },
  };
  for (const path of ['/sso/saml/:connection/metadata', '/sso/saml/:connection']) {
    app.get(
      path,
      { config: { rateLimit }, schema: { ...schema, ...(path.endsWith(':connection') && { hide: true }) } },
      async (request, reply) =>
        reply
          .header('content-type', 'application/samlmetadata+xml; charset=utf-8')
          .header('cache-control', 'public, max-age=300')
          .send(await saml.serviceProviderMetadata(request.params.connection)),
    );
  }
};
