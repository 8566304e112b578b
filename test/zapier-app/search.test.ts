import App from '../../zapier-app';
import { contactSample } from '../../zapier-app/records';
import { perform as findContact } from '../../zapier-app/searches/find_contact';
import { api, appTester, bundle, useMockedApi } from './support/app';

useMockedApi();

describe('Find Contact', () => {
  it('looks the contact up by exact email', async () => {
    api()
      .get('/v1/contacts')
      .query({ email: 'Jane.Visitor@example.com' })
      .matchHeader('x-illumichat-zapier-operation', 'searches.find_contact.perform')
      .reply(200, { data: [contactSample] });
    const found = await appTester(findContact, bundle({ inputData: { email: ' Jane.Visitor@example.com ' } }));
    expect(found).toEqual([contactSample]);
  });

  it('answers an empty list, not an error, when nobody has the email', async () => {
    api().get('/v1/contacts').query({ email: 'nobody@example.com' }).reply(200, { data: [] });
    await expect(appTester(findContact, bundle({ inputData: { email: 'nobody@example.com' } }))).resolves.toEqual([]);
  });

  it('finds nobody for a blank email without asking', async () => {
    await expect(appTester(findContact, bundle({ inputData: { email: '  ' } }))).resolves.toEqual([]);
  });

  it('pairs with Create or Update Contact as Find or Create Contact', () => {
    expect(App.searchOrCreates?.find_contact).toMatchObject({
      key: 'find_contact',
      search: 'find_contact',
      create: 'create_or_update_contact',
    });
    // Zapier fills the create's fields from the search's: both are keyed `email`.
    const searchKeys = App.searches.find_contact.operation.inputFields?.map((f) => (f as { key: string }).key);
    const createKeys = App.creates.create_or_update_contact.operation.inputFields?.map(
      (f) => (f as { key: string }).key,
    );
    expect(createKeys).toEqual(expect.arrayContaining(searchKeys ?? []));
  });
});
